"""Model-based test: a Hypothesis RuleBasedStateMachine drives the real services
(real database, real Redis channel layer) with random operations and checks,
after every step, the database and the events sent against a small model of
PROTOCOL's lifecycle.

Budget: STATE_MACHINE_EXAMPLES x STATE_MACHINE_STEPS (env); CI runs the
defaults below, `scripts/nightly` many more.
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from channels.layers import get_channel_layer
from django.conf import settings
from django.utils import timezone
from hypothesis import HealthCheck
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    precondition,
    rule,
    run_state_machine_as_test,
)

from invitations.calls import actions, deadlines, payloads, selectors
from invitations.calls.errors import CallError
from invitations.calls.states import CallMode, CallState
from invitations.calls.states import CallUserState as S
from invitations.models import (
    Call,
    CallEvent,
    CallUser,
    Connection,
    DeviceAway,
    Group,
    ServerProcess,
    UserPresence,
)
from invitations.realtime import presence
from invitations.realtime.publish import user_group
from tests.helpers import Inbox

EXAMPLES = int(os.environ.get("STATE_MACHINE_EXAMPLES", "150"))
STEPS = int(os.environ.get("STATE_MACHINE_STEPS", "30"))

NAMES = ["alice", "bob", "carol", "dave", "erin"]
GHOST = "ghost"  # no such user
TEAM = {"alice", "bob", "carol"}  # the group "team"; dave and erin are not in it
GROUPS = [None, None, "team", "nope"]  # "nope": no such group
DEVICES = ["d1", "d2"]
SERVERS = ["sm-server", "sm-server-2"]
EXTS = ["", "x", "数据"]  # extendedData values
OPERATOR = "operator"  # staff, never a member
MAX_PARTICIPANTS = 4  # CALL_MAX_PARTICIPANTS here, so that 5 users can exceed it
MAX_LIST = 9  # invitees per request, counted as sent (services.MAX_INVITEES)
PENDING = {S.INVITING, S.RECEIVED, S.NOT_YET_RECEIVED}
ACTIVE = PENDING | {S.ACCEPTED}
LEFT = {S.REJECTED, S.CANCELLED, S.TIMEOUT, S.QUIT}

# Member state changes PROTOCOL's lifecycle allows (written from PROTOCOL's
# text, not from states.py, so that the two check each other).
ALLOWED_EDGES = (
    {
        (S.UNKNOWN, S.INVITING),
        (S.UNKNOWN, S.ACCEPTED),
        (S.INVITING, S.RECEIVED),
        (S.INVITING, S.NOT_YET_RECEIVED),
        (S.NOT_YET_RECEIVED, S.RECEIVED),
        (S.ACCEPTED, S.QUIT),
        (S.ACCEPTED, S.ACCEPTED),
    }
    | {(p, t) for p in PENDING for t in (S.ACCEPTED, S.REJECTED, S.CANCELLED, S.TIMEOUT)}
    | {(left, t) for left in LEFT for t in (S.INVITING, S.ACCEPTED)}
)


# --- the real channel layer, read synchronously ---------------------------------------------


class SyncInbox(Inbox):
    """Inbox that knows when it has everything: it publishes a marker to the
    user's group and reads up to it. `publish` returns only after Redis took
    the message, and Redis delivers in order, so whatever a finished service
    call sent arrives before the marker."""

    def take(self, username: str, pk: int) -> list[dict[str, Any]]:
        layer = get_channel_layer()
        channel = self.channels[username]
        marker = uuid.uuid4().hex

        async def drain() -> list[dict[str, Any]]:
            await layer.group_send(user_group(pk), {"type": "call.frames", "texts": [json.dumps({"marker": marker})]})
            out: list[dict[str, Any]] = []
            while True:
                message = await asyncio.wait_for(layer.receive(channel), 10)
                for text in message["texts"]:
                    frame = json.loads(text)
                    if frame.get("marker") == marker:
                        return out
                    if "marker" not in frame:
                        out.append(frame)

        return self._run(drain(), timeout=30)


def member_list(users: list[dict[str, Any]]) -> frozenset:
    return frozenset((u["userID"], u["state"], u["extendedData"]) for u in users)


def norm(frame: dict[str, Any], system: bool = False) -> tuple:
    """What a frame must agree on with the model: its payload, less the times
    (checked against the database in check_payload_times)."""
    name, data = frame["event"], frame["data"]
    key: tuple = (name, data["callID"], frame["seq"])
    if name == "callUserStateChanged":
        key += (
            frozenset((u["userID"], u["state"], u.get("reason", ""), u["extendedData"]) for u in data["callUserList"]),
        )
    elif name == "callInvitationEnded":
        key += ("*" if system else data["operatedUserID"], data["extendedData"])
    elif name == "callInvitationReceived":
        key += (data["inviter"], data["extendedData"], member_list(data["callUserList"]))
    elif name == "callInvitationCancelled":
        key += (data["extendedData"],)
    elif name == "callInvitationCreated":
        key += (data["extendedData"], member_list(data["callUserList"]))
    return key


def ms(at) -> int:
    return int(at.timestamp() * 1000) if at else 0


def check_payload_times(frame: dict[str, Any], username: str) -> None:
    """endTime, deadline and createTime in a frame are the database's."""
    name, data = frame["event"], frame["data"]
    if name == "callInvitationEnded":
        call = Call.objects.get(call_id=data["callID"])
        assert data["endTime"] == ms(call.ended_at) > 0, (data, call.ended_at)
        assert data["endTime"] >= ms(call.created_at)
    elif name == "callInvitationReceived":
        member = CallUser.objects.select_related("call").get(call__call_id=data["callID"], user__username=username)
        assert data["deadline"] == ms(member.deadline), (data, member.deadline)
        assert data["createTime"] == ms(member.call.created_at)
        # timeout is whole seconds (a replay rounds deadline - invited_at, which the
        # not-received rule's time travel makes fractional)
        if data["timeout"]:  # timeout 0: no deadline (deadline 0)
            assert abs(data["deadline"] - ms(member.invited_at) - data["timeout"] * 1000) <= 500


def check_order(frames: list[dict[str, Any]]) -> None:
    """Per call: seq never goes back; the end notice is the last frame of its seq."""
    last: dict[str, tuple[int, bool]] = {}
    for f in frames:
        cid, seq = f["data"]["callID"], f["seq"]
        prev_seq, prev_ended = last.get(cid, (0, False))
        assert seq >= prev_seq, f"seq went back for {cid}: {prev_seq} -> {seq}"
        assert not (seq == prev_seq and prev_ended), f"a frame after callInvitationEnded in seq {seq}"
        last[cid] = (seq, f["event"] == "callInvitationEnded")


# --- the model ------------------------------------------------------------------------------


@dataclass
class MMember:
    state: int
    inviter: str | None = None
    device: str = ""
    accepted: bool = False  # accepted (or joined) since its last invitation
    ext: str = ""  # the member's extendedData (set by its own answer, join, quit, or a cancel)
    inv_ext: str = ""  # the extendedData its invitation carried
    overdue: bool = False  # its deadline was moved into the past
    nrc: bool = False  # enableNotReceivedCheck
    nrc_due: bool = False  # the not-received check delay has passed
    no_deadline: bool = False  # invited with timeout 0


@dataclass
class MCall:
    call_id: str
    mode: int
    caller: str
    watch: bool
    ext: str = ""
    group: str | None = None
    started: bool = True
    operator_ended: bool = False  # an operator's end leaves pending invitees as they were
    seq: int = 0
    members: dict[str, MMember] = field(default_factory=dict)

    def pending(self) -> list[str]:
        return [n for n, m in self.members.items() if m.state in PENDING]

    def active(self) -> list[str]:
        return [n for n, m in self.members.items() if m.state in ACTIVE]


class MOp:
    """What one operation does to one model call, and the frames it sends."""

    def __init__(self, call: MCall, expected: dict[str, list[tuple]]) -> None:
        self.call, self.expected = call, expected
        self.changed: list[str] = []
        self.seq: int | None = None
        self.ended = False

    def take_seq(self) -> int:
        if self.seq is None:
            self.call.seq += 1
            self.seq = self.call.seq
        return self.seq

    def move(self, name: str, state: int) -> None:
        self.take_seq()
        self.call.members[name].state = state
        if name not in self.changed:
            self.changed.append(name)

    def send(self, names: list[str], *frame: Any) -> None:
        for n in names:
            self.expected.setdefault(n, []).append(frame)

    def end(self, operated_by: str, ext: str = "") -> None:
        self.call.started = False
        self.ended = True
        seq = self.take_seq()
        self.send(self.call.active(), "callInvitationEnded", self.call.call_id, seq, operated_by, ext)

    def members_now(self) -> frozenset:
        return frozenset((n, int(m.state), m.ext) for n, m in self.call.members.items())

    def finish(self, operated_by: str, ext: str = "") -> None:
        c = self.call
        if c.started and not c.pending():
            if c.mode == CallMode.GENERAL or not any(m.state == S.ACCEPTED for m in c.members.values()):
                self.end(operated_by, ext)
        if self.changed:
            users = frozenset((n, int(c.members[n].state), self._reason(n), c.members[n].ext) for n in self.changed)
            recipients = set(c.active()) | set(self.changed)
            self.send(sorted(recipients), "callUserStateChanged", c.call_id, self.seq, users)

    reasons: dict[str, str]

    def _reason(self, name: str) -> str:
        return getattr(self, "reasons", {}).get(name, "")

    def set_reason(self, name: str, reason: str) -> None:
        if not hasattr(self, "reasons"):
            self.reasons = {}
        self.reasons[name] = reason


class Refused(Exception):
    def __init__(self, reason: str) -> None:
        self.reason = reason


# --- the machine ----------------------------------------------------------------------------


def db_snapshot() -> tuple:
    return (
        list(Call.objects.order_by("pk").values_list("call_id", "state", "seq", "ended_at", "ended_by_id")),
        list(
            CallUser.objects.order_by("pk").values_list(
                "call_id", "user_id", "state", "reason", "deadline", "device_id", "accepted_at", "inviter_id"
            )
        ),
        CallEvent.objects.count(),
        list(Connection.objects.order_by("pk").values_list("channel_name")),
        list(UserPresence.objects.order_by("pk").values_list("user_id", "last_offline_at")),
    )


class CallMachine(RuleBasedStateMachine):
    users: dict[str, Any] = {}
    inbox: SyncInbox
    counters: Counter

    calls = Bundle("calls")

    def __init__(self) -> None:
        super().__init__()
        # a clean slate per example: the users stay, everything else goes
        Call.objects.all().delete()
        Connection.objects.all().delete()
        ServerProcess.objects.all().delete()
        UserPresence.objects.all().delete()
        for server in SERVERS:
            presence.server_process_heartbeat(server_id=server, host="test", pid=os.getpid())
        for name, user in self.users.items():
            self.inbox.take(name, user.pk)
        self.model: dict[str, MCall] = {}
        self.conns: list[tuple[str, str, str, str]] = []  # (user, device, channel, server)
        self.offline_since: dict[str, str] = {}  # user -> "fresh" | "old" (has a presence row)
        self.counters["examples"] += 1

    # -- helpers --

    def online(self, name: str) -> bool:
        return any(c[0] == name for c in self.conns)

    def in_started_call_accepted(self, name: str) -> bool:
        return any(c.started and name in c.members and c.members[name].state == S.ACCEPTED for c in self.model.values())

    def run(self, kind: str, expect: Any, do: Any, system: bool = False) -> Any:
        """Run one service call; `expect()` updates the model and returns the
        expected frames, or raises Refused(reason)."""
        self.counters["steps"] += 1
        before = db_snapshot()
        saved = _copy_model(self.model)
        expected: dict[str, list[tuple]] = {}
        try:
            result_or_none = expect(expected)
            predicted = None
        except Refused as r:
            self.model = saved
            predicted = r.reason
            result_or_none = None
        try:
            result = do()
        except CallError as exc:
            assert predicted is not None, f"{kind}: refused with {exc.reason}, the model expected success"
            assert exc.reason == predicted, f"{kind}: refused with {exc.reason}, the model expected {predicted}"
            assert db_snapshot() == before, f"{kind}: a refused operation changed the database"
            self.counters[f"refused {kind}"] += 1
            self.counters[f"why {kind} {exc.reason}"] += 1
            self.check_frames({}, system)
            return None
        assert predicted is None, f"{kind}: succeeded, the model expected {predicted}"
        self.counters[f"ok {kind}"] += 1
        value = result if result_or_none is None else result_or_none(result)
        self.check_frames(expected, system)
        return value

    def check_frames(self, expected: dict[str, list[tuple]], system: bool) -> None:
        for name, user in self.users.items():
            frames = self.inbox.take(name, user.pk)
            check_order(frames)
            for frame in frames:
                check_payload_times(frame, name)
            got = Counter(norm(f, system) for f in frames)
            want = Counter(
                tuple("*" if system and e[0] == "callInvitationEnded" and i == 3 else x for i, x in enumerate(e))
                for e in expected.get(name, [])
            )
            assert got == want, f"{name} got {sorted(got.elements())}\n want {sorted(want.elements())}"
            self.counters["frames"] += len(frames)

    def member_of(self, call_id: str, name: str) -> tuple[MCall, MMember | None]:
        call = self.model[call_id]
        return call, call.members.get(name)

    # -- rules --

    @initialize()
    def start(self) -> None:
        pass

    @rule(
        target=calls,
        caller=st.sampled_from(NAMES),
        invitees=st.lists(st.sampled_from(NAMES + [GHOST]), min_size=1, max_size=2)
        | st.lists(st.sampled_from(NAMES + [GHOST]), min_size=1, max_size=4)
        | st.lists(st.sampled_from(NAMES + [GHOST]), min_size=MAX_LIST, max_size=MAX_LIST + 2),
        mode=st.sampled_from([CallMode.GENERAL, CallMode.ADVANCED]),
        device=st.sampled_from(DEVICES),
        nrc=st.booleans(),
        group=st.sampled_from(GROUPS),
        timeout=st.sampled_from([600, 600, 0]),
        online_only=st.sampled_from([False, False, True]),
        ext=st.sampled_from(EXTS),
    )
    def invite(
        self,
        caller: str,
        invitees: list[str],
        mode: int,
        device: str,
        nrc: bool,
        group: str | None,
        timeout: int,
        online_only: bool,
        ext: str,
    ):
        return self._invite(caller, invitees, mode, device, nrc, group, timeout, online_only, ext)

    @rule(
        target=calls,
        call=calls,
        data=st.data(),
        mode=st.sampled_from([CallMode.GENERAL, CallMode.ADVANCED]),
        device=st.sampled_from(DEVICES),
        group=st.sampled_from([None, None, None, "team"]),
        ext=st.sampled_from(EXTS),
    )
    def glare(self, call: str, data, mode: int, device: str, group: str | None, ext: str):
        """A pending invitee calls the caller back (glare), or tries to."""
        c = self.model[call]
        user = data.draw(st.sampled_from(sorted(c.pending()) * 4 + sorted(c.members) + NAMES), label="user")
        return self._invite(user, [c.caller], mode, device, False, group, 600, False, ext)

    def _glare_call(self, caller: str, names: list[str]) -> MCall | None:
        """PROTOCOL's glare: the newest Started call of the one invitee in which the caller is pending."""
        if len(names) != 1 or names[0] in (GHOST, caller):
            return None
        ringing = [
            c
            for c in self.model.values()
            if c.started
            and c.caller == names[0]
            and caller in c.members
            and c.members[caller].state in PENDING
            and not c.members[caller].overdue
        ]
        return ringing[-1] if ringing else None

    def _invite(
        self,
        caller: str,
        invitees: list[str],
        mode: int,
        device: str,
        nrc: bool,
        group: str | None,
        timeout: int,
        online_only: bool,
        ext: str,
    ):
        names = list(dict.fromkeys(invitees))

        def expect(expected):
            if group is not None and (group != "team" or caller not in TEAM):
                raise Refused("group_not_found")
            if self.in_started_call_accepted(caller):
                raise Refused("already_in_call")
            # glare only for one invitee in a list not over the limit (as sent)
            ringing = self._glare_call(caller, names) if len(invitees) <= MAX_LIST else None
            if ringing is not None:
                op = MOp(ringing, expected)
                m = ringing.members[caller]
                m.device, m.accepted, m.ext = device, True, ext
                op.move(caller, S.ACCEPTED)
                op.finish(caller, ext)

                def merged(result):
                    assert result["merged"] is True and result["callID"] == ringing.call_id
                    assert result["errorInvitees"] == []
                    self.counters["ok glare merged"] += 1
                    return None

                return merged
            if len(invitees) > MAX_LIST:
                raise Refused("too_many_participants")
            errors = []
            ok = []
            for n in names:
                if n == GHOST:
                    errors.append({"userID": n, "reason": "user_not_found"})
                elif group is not None and n not in TEAM:
                    errors.append({"userID": n, "reason": "not_group_member"})
                elif n == caller:
                    errors.append({"userID": n, "reason": "already_in_call_member"})
                elif online_only and not self.online(n):
                    errors.append({"userID": n, "reason": "user_offline"})
                else:
                    ok.append(n)
            if not ok:
                raise Refused("no_invitee_registered")
            if 1 + len(ok) > MAX_PARTICIPANTS:  # the caller is a member too
                raise Refused("too_many_participants")

            def finish(result):
                cid = result["callID"]
                assert "merged" not in result
                assert result["errorInvitees"] == errors
                call = MCall(cid, mode, caller, watch=self.online(caller), ext=ext, group=group)
                self.model[cid] = call
                op = MOp(call, expected)
                call.members[caller] = MMember(S.UNKNOWN, device=device)
                op.move(caller, S.ACCEPTED)
                for n in ok:
                    call.members[n] = MMember(S.UNKNOWN, inviter=caller, nrc=nrc, inv_ext=ext, no_deadline=timeout == 0)
                    op.move(n, S.RECEIVED if self.online(n) else S.INVITING)
                op.send([caller], "callInvitationCreated", cid, 1, ext, op.members_now())
                op.send(ok, "callInvitationReceived", cid, 1, caller, ext, op.members_now())
                op.finish(caller)
                return cid

            return finish

        cid = self.run(
            "callInvite",
            expect,
            lambda: actions.call_invite(
                user=self.users[caller],
                device_id=device,
                invitees=invitees,
                timeout=timeout,
                mode=mode,
                enable_not_received_check=nrc,
                extended_data=ext,
                group_id=group or "",
                online_user_only=online_only,
            ),
        )
        return cid if cid else multiple()

    def _expect_after(self, expect_fn):
        """expect() for operations whose frames are known before running."""

        def expect(expected):
            expect_fn(expected)
            return None

        return expect

    @rule(call=calls, data=st.data(), partial=st.booleans(), device=st.sampled_from(DEVICES), ext=st.sampled_from(EXTS))
    def cancel(self, call: str, data, partial: bool, device: str, ext: str) -> None:
        c = self.model[call]
        user = data.draw(st.sampled_from([c.caller] * 3 + NAMES), label="user")
        targets = (
            data.draw(st.lists(st.sampled_from(NAMES + [GHOST]), min_size=1, max_size=3), label="targets")
            if partial
            else None
        )

        def expect(expected):
            c, m = self.member_of(call, user)
            if m is None:
                raise Refused("call_not_found")
            if not c.started:
                raise Refused("call_ended")
            if c.caller != user:
                raise Refused("not_caller")
            if any(mm.accepted for n, mm in c.members.items() if n != c.caller):
                raise Refused("already_accepted")
            if targets is None:
                chosen = c.pending()
                if not chosen:
                    raise Refused("invalid_state")
            else:
                chosen = [n for n in dict.fromkeys(targets) if n in c.members and c.members[n].state in PENDING]
            errors = [
                {"userID": n, "reason": "user_not_found" if n not in c.members else "invalid_state"}
                for n in dict.fromkeys(targets or [])
                if n not in chosen
            ]
            op = MOp(c, expected)
            for n in chosen:
                op.move(n, S.CANCELLED)
                op.set_reason(n, "caller_cancel")
                c.members[n].ext = ext
            if chosen:
                op.send(chosen, "callInvitationCancelled", call, op.seq, ext)
            op.finish(user, ext)

            def check(result):
                assert result["errorInvitees"] == errors, (result["errorInvitees"], errors)

            return check

        self.run(
            "callCancel",
            expect,
            lambda: actions.call_cancel(
                user=self.users[user], call_id=call, device_id=device, invitees=targets, extended_data=ext
            ),
        )

    def _answer(self, kind: str, call: str, data, device: str, reject_reason: str | None, ext: str) -> None:
        c = self.model[call]
        user = data.draw(st.sampled_from(sorted(c.members) * 3 + NAMES), label="user")

        def expect(expected):
            c, m = self.member_of(call, user)
            if m is None:
                raise Refused("call_not_found")
            if not c.started:
                raise Refused("call_ended")
            if m.inviter is None:
                raise Refused("not_invited")
            if m.state not in PENDING or m.overdue:
                raise Refused("invalid_state")
            op = MOp(c, expected)
            m.device, m.ext = device, ext
            if reject_reason is None:
                m.accepted = True
                op.move(user, S.ACCEPTED)
            else:
                op.move(user, S.REJECTED)
                op.set_reason(user, reject_reason)
            op.finish(user, ext)

        if reject_reason is None:
            do = lambda: actions.call_accept(
                user=self.users[user],
                call_id=call,
                device_id=device,  # noqa: E731
                extended_data=ext,
            )
        else:
            do = lambda: actions.call_reject(
                user=self.users[user],
                call_id=call,
                device_id=device,  # noqa: E731
                reason=reject_reason,
                extended_data=ext,
            )
        self.run(kind, self._expect_after(expect), do)

    @rule(call=calls, data=st.data(), device=st.sampled_from(DEVICES), ext=st.sampled_from(EXTS))
    def accept(self, call: str, data, device: str, ext: str) -> None:
        self._answer("callAccept", call, data, device, None, ext)

    @rule(
        call=calls,
        data=st.data(),
        device=st.sampled_from(DEVICES),
        reason=st.sampled_from(["declined", "busy"]),
        ext=st.sampled_from(EXTS),
    )
    def reject(self, call: str, data, device: str, reason: str, ext: str) -> None:
        self._answer("callReject", call, data, device, reason, ext)

    @rule(call=calls, data=st.data())
    def deadline_passes(self, call: str, data) -> None:
        """Time passes for one pending invitee: its deadline moves into the past."""
        c = self.model[call]
        # timeout 0: no deadline to pass
        pending = [n for n in c.pending() if not c.members[n].overdue and not c.members[n].no_deadline]
        if not pending:
            return
        name = data.draw(st.sampled_from(pending), label="invitee")
        CallUser.objects.filter(call__call_id=call, user=self.users[name]).update(
            deadline=timezone.now() - timedelta(seconds=1)
        )
        c.members[name].overdue = True

    @precondition(
        lambda self: any(m.overdue and m.state in PENDING for c in self.model.values() for m in c.members.values())
    )
    @rule()
    def expire_due(self) -> None:
        def expect(expected):
            for c in self.model.values():
                due = [n for n in c.pending() if c.members[n].overdue] if c.started else []
                if not due:
                    continue
                op = MOp(c, expected)
                for n in due:
                    op.move(n, S.TIMEOUT)
                    op.set_reason(n, "timeout")
                op.send(due, "callInvitationTimeout", c.call_id, op.seq)
                op.finish("")

        self.run("expire", self._expect_after(expect), deadlines.invitations_expire_due, system=True)

    @precondition(
        lambda self: any(m.nrc and m.state == S.INVITING for c in self.model.values() for m in c.members.values())
    )
    @rule(data=st.data())
    def not_received_delay_passes(self, data) -> None:
        """The enableNotReceivedCheck delay passes for every Inviting invitee, then the check runs."""
        CallUser.objects.filter(state=S.INVITING, not_received_check=True).update(
            invited_at=timezone.now() - timedelta(hours=2)
        )

        def expect(expected):
            for c in self.model.values():
                late = (
                    [n for n, m in c.members.items() if m.state == S.INVITING and m.nrc and not m.overdue]
                    if c.started
                    else []
                )
                if not late:
                    continue
                op = MOp(c, expected)
                for n in late:
                    op.move(n, S.NOT_YET_RECEIVED)
                op.finish("")

        self.run("notReceived", self._expect_after(expect), deadlines.invitations_mark_not_received, system=True)

    @rule(
        call=calls,
        data=st.data(),
        device=st.sampled_from(DEVICES),
        timeout=st.sampled_from([600, 0]),
        online_only=st.sampled_from([False, False, True]),
        ext=st.sampled_from(EXTS),
    )
    def calling_invite(self, call: str, data, device: str, timeout: int, online_only: bool, ext: str) -> None:
        c = self.model[call]
        user = data.draw(st.sampled_from(sorted(c.members) * 2 + NAMES), label="user")
        invitees = data.draw(
            st.lists(st.sampled_from(NAMES + [GHOST]), min_size=1, max_size=2)
            | st.lists(st.sampled_from(NAMES + [GHOST]), min_size=1, max_size=3)
            | st.lists(st.sampled_from(NAMES + [GHOST]), min_size=MAX_LIST, max_size=MAX_LIST + 1),
            label="invitees",
        )
        names = list(dict.fromkeys(invitees))

        def expect(expected):
            c, m = self.member_of(call, user)
            if m is None:
                raise Refused("call_not_found")
            if c.mode != CallMode.ADVANCED:
                raise Refused("not_advanced_mode")
            if not c.started:
                raise Refused("call_ended")
            if m.state != S.ACCEPTED:
                raise Refused("invalid_state")
            if len(invitees) > MAX_LIST:
                raise Refused("too_many_participants")
            ok = [
                n
                for n in names
                if n != GHOST
                and (c.group is None or n in TEAM)
                and (n not in c.members or c.members[n].state in LEFT)
                and (not online_only or self.online(n))
            ]
            if not ok:
                raise Refused("no_invitee_registered")
            if len(c.members) + len([n for n in ok if n not in c.members]) > MAX_PARTICIPANTS:
                raise Refused("too_many_participants")

            def why(n: str) -> str:  # the service's order of reasons
                if n == GHOST:
                    return "user_not_found"
                if c.group is not None and n not in TEAM:
                    return "not_group_member"
                if n in c.members and c.members[n].state not in LEFT:
                    return "already_in_call_member"
                return "user_offline"

            errors = [{"userID": n, "reason": why(n)} for n in names if n not in ok]
            # the caller's invitations carry the call's extendedData, anyone else's their own
            inv_ext = c.ext if user == c.caller else ext
            op = MOp(c, expected)
            for n in ok:
                c.members[n] = MMember(
                    c.members[n].state if n in c.members else S.UNKNOWN,
                    inviter=user,
                    inv_ext=inv_ext,
                    no_deadline=timeout == 0,
                )
                op.move(n, S.INVITING)
                if self.online(n):
                    op.move(n, S.RECEIVED)
            op.send(ok, "callInvitationReceived", call, op.seq, user, inv_ext, op.members_now())
            op.finish(user, ext)

            def check(result):
                assert result["errorInvitees"] == errors, (result["errorInvitees"], errors)

            return check

        self.run(
            "callingInvite",
            expect,
            lambda: actions.calling_invite(
                user=self.users[user],
                call_id=call,
                device_id=device,
                invitees=invitees,
                timeout=timeout,
                extended_data=ext,
                online_user_only=online_only,
            ),
        )

    @rule(call=calls, user=st.sampled_from(NAMES), device=st.sampled_from(DEVICES), ext=st.sampled_from(EXTS))
    def join(self, call: str, user: str, device: str, ext: str) -> None:
        def expect(expected):
            c, m = self.member_of(call, user)
            if c.group is not None and user not in TEAM:
                raise Refused("call_not_found")  # a group call is open to its group's members only
            if c.mode != CallMode.ADVANCED:
                raise Refused("not_advanced_mode" if m is not None else "call_not_found")
            if not c.started:
                raise Refused("call_ended")
            op = MOp(c, expected)
            if m is None:
                if len(c.members) >= MAX_PARTICIPANTS:
                    raise Refused("too_many_participants")
                c.members[user] = MMember(S.UNKNOWN, device=device, accepted=True, ext=ext)
                op.move(user, S.ACCEPTED)
            elif m.state == S.ACCEPTED:
                if m.device == device:
                    raise Refused("invalid_state")
                m.device, m.ext = device, ext
                op.move(user, S.ACCEPTED)
                op.set_reason(user, "device_moved")
            else:
                m.device, m.accepted, m.ext = device, True, ext
                op.move(user, S.ACCEPTED)
            op.finish(user, ext)

        self.run(
            "callJoin",
            self._expect_after(expect),
            lambda: actions.call_join(user=self.users[user], call_id=call, device_id=device, extended_data=ext),
        )

    def _leave(self, kind: str, call: str, data, device: str, ext: str) -> None:
        c = self.model[call]
        user = data.draw(st.sampled_from(sorted(c.members) * 3 + NAMES), label="user")

        def expect(expected):
            c, m = self.member_of(call, user)
            if m is None:
                raise Refused("call_not_found")
            if c.mode != CallMode.ADVANCED:
                raise Refused("not_advanced_mode")
            if not c.started:
                raise Refused("call_ended")
            if m.state != S.ACCEPTED:
                raise Refused("invalid_state")
            op = MOp(c, expected)
            if kind == "callQuit":
                m.ext = ext
                op.move(user, S.QUIT)
                op.finish(user, ext)
            else:
                op.end(user, ext)

        service = actions.call_quit if kind == "callQuit" else actions.call_end
        self.run(
            kind,
            self._expect_after(expect),
            lambda: service(user=self.users[user], call_id=call, device_id=device, extended_data=ext),
        )

    @rule(call=calls, data=st.data(), device=st.sampled_from(DEVICES), ext=st.sampled_from(EXTS))
    def quit(self, call: str, data, device: str, ext: str) -> None:
        self._leave("callQuit", call, data, device, ext)

    @rule(call=calls, data=st.data(), device=st.sampled_from(DEVICES), ext=st.sampled_from(EXTS))
    def end(self, call: str, data, device: str, ext: str) -> None:
        self._leave("callEnd", call, data, device, ext)

    @rule(call=calls, ext=st.sampled_from(EXTS))
    def operator_end(self, call: str, ext: str) -> None:
        """An operator ends a call of either mode from the admin."""

        def expect(expected):
            c = self.model[call]
            if not c.started:
                raise Refused("call_ended")
            op = MOp(c, expected)
            c.operator_ended = True
            op.end(OPERATOR, ext)
            op.finish(OPERATOR, ext)

            def check(result):
                ended_at = Call.objects.get(call_id=call).ended_at
                assert result == {"callID": call, "endTime": ms(ended_at)}, result
                assert Call.objects.get(call_id=call).ended_by_id == self.operator.pk

            return check

        self.run(
            "operatorEnd",
            expect,
            lambda: actions.call_end_by_operator(operator=self.operator, call_id=call, extended_data=ext),
        )

    @rule(user=st.sampled_from(NAMES), device=st.sampled_from(DEVICES), server=st.sampled_from(SERVERS))
    def connect(self, user: str, device: str, server: str) -> None:
        if sum(1 for c in self.conns if c[0] == user) >= 3:
            return
        channel = f"sm.{uuid.uuid4().hex}"

        def expect(expected):
            for c in self.model.values():
                waiting = [
                    n
                    for n, m in c.members.items()
                    if n == user and c.started and not m.overdue and m.state in (S.INVITING, S.NOT_YET_RECEIVED)
                ]
                if waiting:
                    op = MOp(c, expected)
                    op.move(user, S.RECEIVED)
                    op.finish("")

        self.run(
            "connect",
            self._expect_after(expect),
            lambda: presence.connection_open(
                user=self.users[user], device_id=device, channel_name=channel, server_id=server
            ),
            system=True,
        )
        self.conns.append((user, device, channel, server))
        self.check_hello_replay(user)

    def check_hello_replay(self, user: str) -> None:
        """What a new socket gets after hello: one callInvitationReceived per
        invitation still waiting for the user, as the model knows them."""
        want = sorted(
            (
                c.call_id,
                c.seq,
                m.inviter,
                m.inv_ext,
                frozenset((n, int(mm.state), mm.ext) for n, mm in c.members.items()),
            )
            for c in self.model.values()
            for n0, m in c.members.items()
            if n0 == user and c.started and m.state in PENDING and not m.overdue
        )
        replay = selectors.pending_invitations_for(user=self.users[user])
        assert all(f["type"] == "event" and f["event"] == "callInvitationReceived" for f in replay), replay
        got = sorted(
            (
                f["data"]["callID"],
                f["seq"],
                f["data"]["inviter"],
                f["data"]["extendedData"],
                member_list(f["data"]["callUserList"]),
            )
            for f in replay
        )
        assert got == want, f"hello replay for {user}: {got}\n want {want}"
        for frame in replay:
            check_payload_times(frame, user)
        self.counters["replayed"] += len(replay)

    @precondition(lambda self: self.conns)
    @rule(server=st.sampled_from(SERVERS))
    def server_reaped(self, server: str) -> None:
        """A web process stops proving it lives: the reaper drops its sockets; it comes back empty."""
        # Stale, but by far less than the heartbeat timeout: its users went offline at its last
        # beat, which the model counts as "fresh" (an hour back would already be "old").
        stale = timezone.now() - timedelta(seconds=settings.CALL_SERVER_STALE_SECONDS + 60)
        ServerProcess.objects.filter(server_id=server).update(last_seen=stale)
        self.run("reap", self._expect_after(lambda expected: None), presence.server_processes_reap, system=True)
        gone = [c for c in self.conns if c[3] == server]
        for conn in gone:
            self.conns.remove(conn)
        for name in {c[0] for c in gone}:
            if not self.online(name):
                self.offline_since[name] = "fresh"
        assert sorted(Connection.objects.values_list("channel_name", flat=True)) == sorted(c[2] for c in self.conns)
        presence.server_process_heartbeat(server_id=server, host="test", pid=os.getpid())

    @rule(data=st.data())
    def disconnect(self, data) -> None:
        if not self.conns:
            return
        conn = data.draw(st.sampled_from(self.conns), label="connection")
        self.conns.remove(conn)
        self.run(
            "disconnect",
            self._expect_after(lambda expected: None),
            lambda: presence.connection_close(channel_name=conn[2]),
            system=True,
        )
        if not self.online(conn[0]):
            self.offline_since[conn[0]] = "fresh"

    @rule(user=st.sampled_from(NAMES))
    def caller_offline_timeout(self, user: str) -> None:
        """The heartbeat timeout passes for an offline user, then the caller-offline check runs."""
        if self.online(user) or user not in self.offline_since:
            return
        UserPresence.objects.filter(user=self.users[user]).update(last_offline_at=timezone.now() - timedelta(hours=2))
        self.offline_since[user] = "old"

        def expect(expected):
            for c in self.model.values():
                if not (c.started and c.watch and c.caller == user):
                    continue
                if any(m.accepted for n, m in c.members.items() if n != c.caller):
                    continue
                targets = c.pending()
                if not targets:
                    continue
                op = MOp(c, expected)
                for n in targets:
                    op.move(n, S.CANCELLED)
                    op.set_reason(n, "caller_offline")
                    c.members[n].ext = ""
                op.send(targets, "callInvitationCancelled", c.call_id, op.seq, "")
                if c.mode == CallMode.ADVANCED:
                    op.end(user)
                op.finish("")

        self.run("callerOffline", self._expect_after(expect), deadlines.callers_offline_cancel, system=True)

    def _away_members(self) -> bool:
        connected = {(c[0], c[1]) for c in self.conns}
        return any(
            c.started and m.state == S.ACCEPTED and (n, m.device) not in connected
            for c in self.model.values()
            for n, m in c.members.items()
        )

    @precondition(lambda self: self._away_members())
    @rule()
    def members_away_timeout(self) -> None:
        """The heartbeat timeout passes for every call device without a socket: their Accepted
        members quit (offline), and a call left without Accepted members (general mode: without
        pending invitees) ends; the caller of a call nobody answered is the caller-offline rule's."""
        DeviceAway.objects.all().delete()
        assert deadlines.members_away_quit() == 0  # the sweep starts a clock for each call device without a socket
        DeviceAway.objects.update(since=timezone.now() - timedelta(hours=2))
        connected = {(c[0], c[1]) for c in self.conns}

        def expect(expected):
            for c in self.model.values():
                if not c.started:
                    continue
                unanswered = (
                    c.watch and c.pending() and not any(m.accepted for n, m in c.members.items() if n != c.caller)
                )
                gone = [
                    n
                    for n, m in c.members.items()
                    if m.state == S.ACCEPTED
                    and (n, m.device) not in connected
                    and not (n == c.caller and unanswered and not self.online(n))
                ]
                if not gone:
                    continue
                op = MOp(c, expected)
                for n in gone:
                    op.move(n, S.QUIT)
                    op.set_reason(n, "offline")
                self.counters["members away quit"] += len(gone)
                if not any(m.state == S.ACCEPTED for m in c.members.values()) or (
                    c.mode == CallMode.GENERAL and not c.pending()
                ):
                    c.operator_ended = bool(c.pending())  # ended with invitees still pending, as an operator's end
                    op.end(gone[-1])
                op.finish(gone[-1])

        self.run("membersAway", self._expect_after(expect), deadlines.members_away_quit, system=True)

    # -- invariants --

    @invariant()
    def database_agrees_with_model(self) -> None:
        calls = {c.call_id: c for c in Call.objects.all()}
        assert set(calls) == set(self.model)
        names = {u.pk: n for n, u in self.users.items()}
        for cid, mc in self.model.items():
            call = calls[cid]
            assert call.state == (CallState.STARTED if mc.started else CallState.ENDED), cid
            assert (call.ended_at is None) == mc.started
            assert call.seq == mc.seq
            # endTime as the API tells it: 0 while the call lasts, the end's time after
            caller = self.users[mc.caller]
            info = payloads.call_info(selectors.call_for_member(user=caller, call_id=cid), caller)
            assert info["endTime"] == ms(call.ended_at) and (info["endTime"] == 0) == mc.started, cid
            assert info["endTime"] == 0 or info["endTime"] >= info["createTime"]
            assert info["extendedData"] == mc.ext
            assert {u["userID"]: u["extendedData"] for u in info["callUserList"]} == {
                n: m.ext for n, m in mc.members.items()
            }, cid
            members = {names[m.user_id]: m.state for m in CallUser.objects.filter(call=call)}
            assert members == {n: int(m.state) for n, m in mc.members.items()}, cid
            # PROTOCOL's end rules, from the database alone
            pending = [s for s in members.values() if s in PENDING]
            accepted = [s for s in members.values() if s == S.ACCEPTED]
            if mc.mode == CallMode.GENERAL and not mc.operator_ended:
                assert (call.state == CallState.ENDED) == (not pending), "general: ends exactly when none pending"
            elif call.state == CallState.STARTED:
                assert pending or accepted, "advanced: nobody left, yet Started"

    @invariant()
    def group_calls_agree(self) -> None:
        group = selectors.group_for_member(user=self.users["alice"], group_id="team")
        listed = [c.call_id for c in selectors.group_started_calls(group=group)]
        assert listed == [cid for cid, c in reversed(self.model.items()) if c.started and c.group == "team"]

    @invariant()
    def event_log_replays(self) -> None:
        names = {u.pk: n for n, u in self.users.items()}
        for cid, mc in self.model.items():
            rows = list(CallEvent.objects.filter(call__call_id=cid).order_by("seq", "pk"))
            assert sorted({r.seq for r in rows}) == list(range(1, mc.seq + 1)), "seq has a gap"
            state: dict[str, int] = {}
            for r in rows:
                if r.kind != "state":
                    continue
                name = names[r.user_id]
                assert r.from_state == state.get(name, S.UNKNOWN), f"log of {name} in {cid} does not chain"
                assert (S(r.from_state), S(r.to_state)) in ALLOWED_EDGES, (r.from_state, r.to_state)
                state[name] = r.to_state
            assert state == {n: int(m.state) for n, m in mc.members.items()}
            ends = [r for r in rows if r.kind == "call_ended"]
            assert len(ends) == (0 if mc.started else 1)


def _copy_model(model: dict[str, MCall]) -> dict[str, MCall]:
    import copy

    return copy.deepcopy(model)


@pytest.fixture
def sm_settings(settings):
    # Time is moved by the rules, never waited for: these delays must not pass by themselves.
    settings.CALL_NOT_RECEIVED_CHECK_SECONDS = 3600
    settings.CALL_HEARTBEAT_TIMEOUT_SECONDS = 3600
    settings.CALL_MAX_PARTICIPANTS = MAX_PARTICIPANTS
    return settings


@pytest.fixture
def drop_scheduled_jobs():
    """The services schedule real RQ jobs (no worker runs here): remove them afterwards."""
    yield
    import django_rq
    from django.conf import settings

    queue = django_rq.get_queue(settings.CALL_QUEUE)
    registry = queue.scheduled_job_registry
    for job_id in registry.get_job_ids():
        registry.remove(job_id, delete_job=True)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_call_lifecycle_state_machine(make_user, sm_settings, drop_scheduled_jobs, capsys):
    users = {n: make_user(n) for n in NAMES}
    CallMachine.operator = make_user(OPERATOR, is_staff=True)
    group = Group.objects.create(group_id="team", name="Team")
    group.members.set([users[n] for n in TEAM])
    inbox = SyncInbox()
    for user in users.values():
        inbox.watch(user)
    counters: Counter = Counter()
    CallMachine.users, CallMachine.inbox, CallMachine.counters = users, inbox, counters
    try:
        run_state_machine_as_test(
            CallMachine,
            settings=hsettings(
                max_examples=EXAMPLES, stateful_step_count=STEPS, deadline=None, suppress_health_check=list(HealthCheck)
            ),
        )
    finally:
        inbox.close()
        shown = ("ok ", "ref", os.environ.get("STATE_MACHINE_WHY", "ok "))  # "why": refusals by reason
        with capsys.disabled():
            print(
                f"\nstate machine: {counters['examples']} examples, {counters['steps']} steps, "
                f"{counters['frames']} frames checked; "
                + f"{counters['replayed']} replayed invitations; "
                + ", ".join(f"{k}: {v}" for k, v in sorted(counters.items()) if k[:3] in shown)
            )
