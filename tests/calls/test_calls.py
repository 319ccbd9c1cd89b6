"""Every allowed and every refused call operation (calls/actions/) on the real
database (PostgreSQL): states, the log, and what a refusal leaves alone."""

from datetime import timedelta

import pytest

from invitations.calls import actions, deadlines
from invitations.calls.states import CallMode, CallState
from invitations.calls.states import CallUserState as S
from invitations.models import CallEvent, CallUser
from tests.calls.helpers import (
    backdate_deadline,
    call_of,
    invite,
    log,
    member,
    online,
    refused,
    snapshot,
    state,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_passwords")]


# --- callInvite ----------------------------------------------------------------------------------


def test_invite_offline_invitee_stays_inviting(alice, bob):
    result = actions.call_invite(user=alice, device_id="a1", invitees=["bob"], extended_data="x")
    assert result["timeout"] == 90 and result["errorInvitees"] == []
    call = call_of(result["callID"])
    assert len(call.call_id) >= 16  # 96+ random bits, base64
    assert (call.state, call.mode, call.seq, call.ended_at) == (CallState.STARTED, CallMode.GENERAL, 1, None)
    assert call.extended_data == "x" and not call.watch_caller_presence  # no device: HTTP-placed
    a, b = member(call.call_id, alice), member(call.call_id, bob)
    assert a.state == S.ACCEPTED and a.device_id == "a1" and a.inviter is None
    assert b.state == S.INVITING and b.inviter == alice
    assert b.deadline == b.invited_at + timedelta(seconds=90)
    assert log(call.call_id) == [
        (1, "state", "alice", S.UNKNOWN, S.ACCEPTED, "", "alice"),
        (1, "state", "bob", S.UNKNOWN, S.INVITING, "", "alice"),
    ]
    assert CallEvent.objects.filter(call=call, user=alice).get().device_id == "a1"


def test_invite_online_invitee_is_received(alice, bob):
    online(bob)
    online(alice)
    call_id = invite(alice, bob, timeout=5, mode=CallMode.ADVANCED)
    assert state(call_id, bob) == S.RECEIVED
    assert call_of(call_id).watch_caller_presence and call_of(call_id).mode == CallMode.ADVANCED
    assert log(call_id)[1:] == [
        (1, "state", "bob", S.UNKNOWN, S.INVITING, "", "alice"),
        (1, "state", "bob", S.INVITING, S.RECEIVED, "", "alice"),
    ]
    m = member(call_id, bob)
    assert m.deadline - m.invited_at == timedelta(seconds=5)


def test_invite_error_invitees_and_dedupe(alice, bob, make_user):
    make_user("gone", is_active=False)
    result = actions.call_invite(user=alice, invitees=["bob", "ghost", "bob", "alice", "gone"])
    assert result["errorInvitees"] == [
        {"userID": "ghost", "reason": "user_not_found"},
        {"userID": "alice", "reason": "already_in_call_member"},
        {"userID": "gone", "reason": "user_not_found"},
    ]
    call_id = result["callID"]
    assert CallUser.objects.filter(call__call_id=call_id).count() == 2
    assert state(call_id, alice) == S.ACCEPTED and state(call_id, bob) == S.INVITING


def test_invite_nobody_invitable(alice):
    with refused("no_invitee_registered"):
        actions.call_invite(user=alice, invitees=["ghost", "nobody"])
    with refused("no_invitee_registered"):
        actions.call_invite(user=alice, invitees=["alice"])


def test_invite_at_most_nine_invitees(alice, make_user):
    users = [make_user(f"u{i}") for i in range(10)]
    with refused("too_many_participants"):
        actions.call_invite(user=alice, invitees=[u.username for u in users])
    call_id = invite(alice, *users[:9])
    assert CallUser.objects.filter(call__call_id=call_id).count() == 10


def test_invite_while_accepted_in_started_call(alice, bob, carol, dave):
    call_id = invite(alice, bob, carol)
    with refused("already_in_call"):
        invite(alice, dave)
    actions.call_accept(user=bob, call_id=call_id)
    assert call_of(call_id).state == CallState.STARTED  # carol still pending
    with refused("already_in_call"):
        invite(bob, dave)
    invite(carol, dave)  # carol is only invited, not Accepted
    actions.call_reject(user=carol, call_id=call_id)
    assert call_of(call_id).state == CallState.ENDED
    invite(bob, dave)  # the call ended: bob is free again


# --- callCancel ----------------------------------------------------------------------------------


def test_cancel_all_pending_ends_general_call(alice, bob, carol):
    online(bob)
    call_id = invite(alice, bob, carol)
    result = actions.call_cancel(user=alice, call_id=call_id, extended_data="bye")
    assert result == {"callID": call_id, "errorInvitees": []}
    assert state(call_id, bob) == S.CANCELLED and state(call_id, carol) == S.CANCELLED
    assert member(call_id, bob).extended_data == "bye" and member(call_id, bob).reason == "caller_cancel"
    call = call_of(call_id)
    assert call.state == CallState.ENDED and call.ended_at and call.ended_by == alice and call.seq == 2
    assert log(call_id)[-3:] == [
        (2, "state", "bob", S.RECEIVED, S.CANCELLED, "caller_cancel", "alice"),
        (2, "state", "carol", S.INVITING, S.CANCELLED, "caller_cancel", "alice"),
        (2, "call_ended", None, None, None, "", "alice"),
    ]


def test_cancel_partial(alice, bob, carol, dave):
    call_id = invite(alice, bob, carol)
    result = actions.call_cancel(user=alice, call_id=call_id, invitees=["bob", "ghost", "alice", "dave", "bob"])
    assert result["errorInvitees"] == [
        {"userID": "ghost", "reason": "user_not_found"},
        {"userID": "alice", "reason": "invalid_state"},
        {"userID": "dave", "reason": "user_not_found"},
    ]
    assert state(call_id, bob) == S.CANCELLED and state(call_id, carol) == S.INVITING
    assert call_of(call_id).state == CallState.STARTED and call_of(call_id).seq == 2
    # cancelling an already cancelled invitee changes nothing
    before = snapshot()
    again = actions.call_cancel(user=alice, call_id=call_id, invitees=["bob"])
    assert again["errorInvitees"] == [{"userID": "bob", "reason": "invalid_state"}]
    assert snapshot() == before
    actions.call_cancel(user=alice, call_id=call_id, invitees=["carol"])
    assert call_of(call_id).state == CallState.ENDED


def test_cancel_refusals(alice, bob, carol, dave):
    call_id = invite(alice, bob, carol)
    with refused("not_caller"):
        actions.call_cancel(user=bob, call_id=call_id)
    with refused("call_not_found"):
        actions.call_cancel(user=dave, call_id=call_id)
    with refused("call_not_found"):
        actions.call_cancel(user=alice, call_id="no-such-call")
    actions.call_accept(user=bob, call_id=call_id)
    with refused("already_accepted"):
        actions.call_cancel(user=alice, call_id=call_id)
    with refused("already_accepted"):
        actions.call_cancel(user=alice, call_id=call_id, invitees=["carol"])
    actions.call_reject(user=carol, call_id=call_id)
    assert call_of(call_id).state == CallState.ENDED
    with refused("call_ended"):
        actions.call_cancel(user=alice, call_id=call_id)


def test_cancel_with_nobody_pending(alice, bob):
    call_id = invite(alice, bob, mode=CallMode.ADVANCED)
    actions.call_reject(user=bob, call_id=call_id)
    assert call_of(call_id).state == CallState.STARTED  # alice is still Accepted
    with refused("invalid_state"):
        actions.call_cancel(user=alice, call_id=call_id)


# --- callAccept / callReject ---------------------------------------------------------------------


def test_accept_ends_general_call_members_keep_states(alice, bob):
    call_id = invite(alice, bob)
    assert actions.call_accept(user=bob, call_id=call_id, device_id="b9", extended_data="yes") == {"callID": call_id}
    m = member(call_id, bob)
    assert (m.state, m.device_id, m.extended_data) == (S.ACCEPTED, "b9", "yes") and m.accepted_at
    call = call_of(call_id)
    assert call.state == CallState.ENDED and call.ended_by == bob and call.seq == 2
    assert state(call_id, alice) == S.ACCEPTED
    assert log(call_id)[-2:] == [
        (2, "state", "bob", S.INVITING, S.ACCEPTED, "", "bob"),
        (2, "call_ended", None, None, None, "", "bob"),
    ]
    assert CallEvent.objects.filter(call=call, to_state=S.ACCEPTED, user=bob).get().device_id == "b9"


@pytest.mark.parametrize("reason", ["declined", "busy"])
def test_reject_reasons(alice, bob, carol, reason):
    online(bob)
    call_id = invite(alice, bob, carol)
    actions.call_reject(user=bob, call_id=call_id, reason=reason)
    m = member(call_id, bob)
    assert (m.state, m.reason) == (S.REJECTED, reason) and m.responded_at
    assert log(call_id)[-1] == (2, "state", "bob", S.RECEIVED, S.REJECTED, reason, "bob")
    assert call_of(call_id).state == CallState.STARTED  # carol is pending


def test_reject_default_reason_is_declined(alice, bob):
    call_id = invite(alice, bob)
    actions.call_reject(user=bob, call_id=call_id)
    assert member(call_id, bob).reason == "declined"
    assert call_of(call_id).state == CallState.ENDED


def test_answer_refusals(alice, bob, carol, dave):
    call_id = invite(alice, bob, carol)
    with refused("not_invited"):
        actions.call_accept(user=alice, call_id=call_id)
    with refused("not_invited"):
        actions.call_reject(user=alice, call_id=call_id)
    with refused("call_not_found"):
        actions.call_accept(user=dave, call_id=call_id)
    with refused("call_not_found"):
        actions.call_reject(user=bob, call_id="nope")
    actions.call_accept(user=bob, call_id=call_id)
    with refused("invalid_state"):
        actions.call_accept(user=bob, call_id=call_id)
    with refused("invalid_state"):
        actions.call_reject(user=bob, call_id=call_id)
    backdate_deadline(call_id, carol)  # carol is pending, but her deadline passed
    with refused("invalid_state"):
        actions.call_accept(user=carol, call_id=call_id)
    with refused("invalid_state"):
        actions.call_reject(user=carol, call_id=call_id)


def test_answer_after_general_call_ended(alice, bob, carol):
    call_id = invite(alice, bob, carol)
    actions.call_cancel(user=alice, call_id=call_id)
    with refused("call_ended"):
        actions.call_accept(user=bob, call_id=call_id)
    with refused("call_ended"):
        actions.call_reject(user=carol, call_id=call_id)


def test_general_call_ends_only_when_nobody_pending(alice, bob, carol, dave):
    call_id = invite(alice, bob, carol, dave)
    actions.call_accept(user=bob, call_id=call_id)
    actions.call_reject(user=carol, call_id=call_id)
    assert call_of(call_id).state == CallState.STARTED
    backdate_deadline(call_id, dave)
    assert deadlines.invitations_expire_due() == 1
    call = call_of(call_id)
    assert call.state == CallState.ENDED and call.ended_by is None
    assert [state(call_id, u) for u in (alice, bob, carol, dave)] == [S.ACCEPTED, S.ACCEPTED, S.REJECTED, S.TIMEOUT]


# --- advanced mode -------------------------------------------------------------------------------


def test_calling_invite(alice, bob, carol, dave):
    call_id = invite(alice, bob, mode=CallMode.ADVANCED)
    with refused("invalid_state"):  # bob is only invited
        actions.calling_invite(user=bob, call_id=call_id, invitees=["carol"])
    with refused("call_not_found"):
        actions.calling_invite(user=dave, call_id=call_id, invitees=["carol"])
    actions.call_accept(user=bob, call_id=call_id)
    assert call_of(call_id).state == CallState.STARTED
    online(carol)
    result = actions.calling_invite(user=bob, call_id=call_id, invitees=["carol", "alice", "ghost"], timeout=30)
    assert result == {
        "callID": call_id,
        "timeout": 30,
        "errorInvitees": [
            {"userID": "alice", "reason": "already_in_call_member"},
            {"userID": "ghost", "reason": "user_not_found"},
        ],
    }
    m = member(call_id, carol)
    assert m.state == S.RECEIVED and m.inviter == bob and m.deadline - m.invited_at == timedelta(seconds=30)
    with refused("no_invitee_registered"):
        actions.calling_invite(user=bob, call_id=call_id, invitees=["carol"])  # already pending
    # a member who left may be invited again
    actions.call_reject(user=carol, call_id=call_id)
    actions.calling_invite(user=alice, call_id=call_id, invitees=["carol"])
    m = member(call_id, carol)
    assert m.state == S.RECEIVED and m.inviter == alice and m.responded_at is None and m.reason == ""


def test_calling_invite_refused_on_general_call(alice, bob, carol):
    call_id = invite(alice, bob, carol)
    actions.call_accept(user=bob, call_id=call_id)
    with refused("not_advanced_mode"):
        actions.calling_invite(user=alice, call_id=call_id, invitees=["carol"])


def test_calling_invite_at_most_ten_members(alice, make_user):
    users = [make_user(f"u{i}") for i in range(11)]
    call_id = invite(alice, *users[:8], mode=CallMode.ADVANCED)  # 9 members
    actions.calling_invite(user=alice, call_id=call_id, invitees=[users[8].username])  # 10
    with refused("too_many_participants"):
        actions.calling_invite(user=alice, call_id=call_id, invitees=[users[9].username])
    with refused("too_many_participants"):
        actions.call_join(user=users[10], call_id=call_id)


def test_join_device_move_quit_rejoin(alice, bob, dave):
    call_id = invite(alice, bob, mode=CallMode.ADVANCED, device_id="a1")
    result = actions.call_join(user=dave, call_id=call_id, device_id="d1", extended_data="hi")
    assert result["callID"] == call_id and result["joinTime"] >= result["createTime"] > 0
    assert {m["userID"]: m["state"] for m in result["callUserList"]} == {"alice": 1, "bob": 0, "dave": 1}
    m = member(call_id, dave)
    assert (m.state, m.device_id, m.inviter, m.extended_data) == (S.ACCEPTED, "d1", None, "hi")
    with refused("invalid_state"):
        actions.call_join(user=dave, call_id=call_id, device_id="d1")
    with refused("not_invited"):
        actions.call_accept(user=dave, call_id=call_id)
    actions.call_join(user=alice, call_id=call_id, device_id="a2")
    assert member(call_id, alice).device_id == "a2" and state(call_id, alice) == S.ACCEPTED
    assert log(call_id)[-1] == (3, "state", "alice", S.ACCEPTED, S.ACCEPTED, "device_moved", "alice")
    quit_ = actions.call_quit(user=dave, call_id=call_id)
    assert quit_["quitTime"] >= quit_["acceptTime"] > 0
    assert state(call_id, dave) == S.QUIT and member(call_id, dave).quit_at
    with refused("invalid_state"):
        actions.call_quit(user=dave, call_id=call_id)
    with refused("invalid_state"):
        actions.call_end(user=dave, call_id=call_id)
    actions.call_join(user=dave, call_id=call_id, device_id="d1")
    assert state(call_id, dave) == S.ACCEPTED
    assert call_of(call_id).seq == 5


def test_join_quit_end_refused_on_general_call(alice, bob, carol):
    call_id = invite(alice, bob, carol)
    with refused("not_advanced_mode"):
        actions.call_join(user=carol, call_id=call_id, device_id="c2")
    with refused("not_advanced_mode"):
        actions.call_quit(user=alice, call_id=call_id)
    with refused("not_advanced_mode"):
        actions.call_end(user=alice, call_id=call_id)
    with refused("call_not_found"):
        actions.call_join(user=alice, call_id="missing")


def test_quit_and_end_refusals(alice, bob, dave):
    call_id = invite(alice, bob, mode=CallMode.ADVANCED)
    with refused("invalid_state"):
        actions.call_quit(user=bob, call_id=call_id)  # only invited
    with refused("invalid_state"):
        actions.call_end(user=bob, call_id=call_id)
    with refused("call_not_found"):
        actions.call_quit(user=dave, call_id=call_id)
    with refused("call_not_found"):
        actions.call_end(user=dave, call_id=call_id)


def test_end_keeps_member_states(alice, bob, carol, dave):
    call_id = invite(alice, bob, carol, mode=CallMode.ADVANCED)
    actions.call_accept(user=bob, call_id=call_id)
    result = actions.call_end(user=bob, call_id=call_id, extended_data="done")
    assert result["endTime"] >= result["acceptTime"] >= result["createTime"] > 0
    call = call_of(call_id)
    assert call.state == CallState.ENDED and call.ended_by == bob and call.seq == 3
    assert [state(call_id, u) for u in (alice, bob, carol)] == [S.ACCEPTED, S.ACCEPTED, S.INVITING]
    assert log(call_id)[-1] == (3, "call_ended", None, None, None, "", "bob")
    for refuse in (
        lambda: actions.call_end(user=alice, call_id=call_id),
        lambda: actions.call_quit(user=alice, call_id=call_id),
        lambda: actions.call_join(user=dave, call_id=call_id),
        lambda: actions.calling_invite(user=alice, call_id=call_id, invitees=["dave"]),
        lambda: actions.call_accept(user=carol, call_id=call_id),
        lambda: actions.call_cancel(user=alice, call_id=call_id),
    ):
        with refused("call_ended"):
            refuse()
    assert deadlines.invitations_expire_due() == 0  # an ended call's pending invitee stays as it was
    backdate_deadline(call_id, carol)
    assert deadlines.invitations_expire_due() == 0
    assert state(call_id, carol) == S.INVITING


def test_advanced_ends_when_nobody_accepted_and_nobody_pending(alice, bob):
    call_id = invite(alice, bob, mode=CallMode.ADVANCED)
    actions.call_quit(user=alice, call_id=call_id)
    assert call_of(call_id).state == CallState.STARTED  # bob still pending
    actions.call_reject(user=bob, call_id=call_id)
    call = call_of(call_id)
    assert call.state == CallState.ENDED and call.ended_by == bob
    assert [state(call_id, u) for u in (alice, bob)] == [S.QUIT, S.REJECTED]


def test_advanced_last_accepted_quits(alice, bob):
    call_id = invite(alice, bob, mode=CallMode.ADVANCED)
    actions.call_accept(user=bob, call_id=call_id)
    actions.call_quit(user=alice, call_id=call_id)
    assert call_of(call_id).state == CallState.STARTED
    actions.call_quit(user=bob, call_id=call_id)
    assert call_of(call_id).state == CallState.ENDED
    with refused("call_ended"):
        actions.call_join(user=alice, call_id=call_id, device_id="again")


def test_advanced_expire_keeps_call(alice, bob):
    call_id = invite(alice, bob, mode=CallMode.ADVANCED)
    backdate_deadline(call_id, bob)
    assert deadlines.invitations_expire_due() == 1
    assert state(call_id, bob) == S.TIMEOUT and call_of(call_id).state == CallState.STARTED
    actions.calling_invite(user=alice, call_id=call_id, invitees=["bob"])  # Timeout -> Inviting again
    assert state(call_id, bob) == S.INVITING
