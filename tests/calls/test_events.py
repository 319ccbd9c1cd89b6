"""The frames each write publishes after commit, on the real channel layer (Redis)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from invitations.calls import actions, deadlines
from invitations.calls.errors import CallError
from invitations.calls.states import CallMode
from invitations.models import Call, CallUser
from tests.calls.helpers import (
    backdate_deadline,
    call_of,
    invite,
    log,
    online,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_passwords")]


def test_seq_increments_once_per_operation(alice, bob, carol, dave):
    call_id = invite(alice, bob, carol, dave, mode=CallMode.ADVANCED)
    actions.call_accept(user=bob, call_id=call_id)
    actions.call_reject(user=carol, call_id=call_id)
    actions.call_quit(user=alice, call_id=call_id)
    actions.call_end(user=bob, call_id=call_id)
    seqs = [e[0] for e in log(call_id)]
    assert seqs == sorted(seqs) and set(seqs) == {1, 2, 3, 4, 5}
    assert call_of(call_id).seq == 5


# --- events (published after commit to the real channel layer) -----------------------------------


def _names(events):
    return [name for name, _, _ in events]


@pytest.mark.django_db(transaction=True)
def test_events_invite_accept(alice, bob, carol, dave, inbox):
    inbox.watch(alice, bob, carol, dave)
    online(bob)
    result = actions.call_invite(user=alice, invitees=["bob", "carol"], extended_data="e", timeout=60)
    call_id = result["callID"]
    members = [
        {"userID": "alice", "state": 1, "extendedData": ""},
        {"userID": "bob", "state": 5, "extendedData": ""},
        {"userID": "carol", "state": 0, "extendedData": ""},
    ]
    a = inbox.events(alice)
    assert _names(a) == ["callInvitationCreated", "callUserStateChanged"] and {s for _, s, _ in a} == {1}
    created = a[0][2]
    assert created == {
        "callID": call_id,
        "mode": 0,
        "caller": "alice",
        "extendedData": "e",
        "timeout": 60,
        "createTime": result["createTime"],
        "callUserList": members,
        "userNames": {"alice": "alice", "bob": "bob", "carol": "carol"},
    }
    for user in (bob, carol):
        ev = inbox.events(user)
        assert _names(ev) == ["callInvitationReceived", "callUserStateChanged"] and {s for _, s, _ in ev} == {1}
        received = ev[0][2]
        assert {
            k: received[k]
            for k in ("callID", "mode", "caller", "inviter", "timeout", "createTime", "extendedData", "callUserList")
        } == {
            "callID": call_id,
            "mode": 0,
            "caller": "alice",
            "inviter": "alice",
            "timeout": 60,
            "createTime": result["createTime"],
            "extendedData": "e",
            "callUserList": members,
        }
        assert ev[1][2] == a[1][2]
    assert inbox.events(dave) == []

    actions.call_accept(user=bob, call_id=call_id, extended_data="ok")
    change = {"callID": call_id, "callUserList": [{"userID": "bob", "state": 1, "extendedData": "ok"}]}
    for user in (alice, bob, carol):
        assert inbox.events(user) == [("callUserStateChanged", 2, change)]
    assert inbox.events(dave) == []

    actions.call_reject(user=carol, call_id=call_id, reason="busy")
    change = {
        "callID": call_id,
        "callUserList": [{"userID": "carol", "state": 2, "extendedData": "", "reason": "busy"}],
    }
    end_time = Call.objects.get(call_id=call_id).ended_at
    ended = {
        "callID": call_id,
        "caller": "alice",
        "operatedUserID": "carol",
        "extendedData": "",
        "mode": 0,
        "endTime": int(end_time.timestamp() * 1000),
    }
    for user in (alice, bob):
        assert inbox.events(user) == [("callUserStateChanged", 3, change), ("callInvitationEnded", 3, ended)]
    assert inbox.events(carol) == [("callUserStateChanged", 3, change)]  # no longer active: no end notice
    assert inbox.events(dave) == []


@pytest.mark.django_db(transaction=True)
def test_events_cancel(alice, bob, carol, dave, inbox):
    call_id = invite(alice, bob, carol)
    inbox.watch(alice, bob, carol, dave)
    actions.call_cancel(
        user=alice,
        call_id=call_id,
        invitees=["bob"],
        extended_data="nope",
        push_config={"title": "t", "content": "", "payload": ""},
    )
    cancelled = {
        "callID": call_id,
        "inviter": "alice",
        "mode": 0,
        "extendedData": "nope",
        "pushConfig": {"title": "t", "content": "", "payload": ""},
    }
    change = {
        "callID": call_id,
        "callUserList": [{"userID": "bob", "state": 3, "extendedData": "nope", "reason": "caller_cancel"}],
    }
    assert inbox.events(bob) == [("callInvitationCancelled", 2, cancelled), ("callUserStateChanged", 2, change)]
    assert inbox.events(alice) == [("callUserStateChanged", 2, change)]
    assert inbox.events(carol) == [("callUserStateChanged", 2, change)]
    assert inbox.events(dave) == []


@pytest.mark.django_db(transaction=True)
def test_events_timeout(alice, bob, dave, inbox):
    call_id = invite(alice, bob)
    inbox.watch(alice, bob, dave)
    backdate_deadline(call_id, bob)
    assert deadlines.invitations_expire_due() == 1
    change = {
        "callID": call_id,
        "callUserList": [{"userID": "bob", "state": 6, "extendedData": "", "reason": "timeout"}],
    }
    assert inbox.events(bob) == [
        ("callInvitationTimeout", 2, {"callID": call_id, "mode": 0}),
        ("callUserStateChanged", 2, change),
    ]
    a = inbox.events(alice)
    assert _names(a) == ["callUserStateChanged", "callInvitationEnded"] and a[0][2] == change
    assert a[1][2]["operatedUserID"] == "" and a[1][1] == 2
    assert inbox.events(dave) == []


@pytest.mark.django_db(transaction=True)
def test_events_advanced_join_quit_end(alice, bob, carol, dave, inbox):
    call_id = invite(alice, bob, mode=CallMode.ADVANCED)
    actions.call_accept(user=bob, call_id=call_id)
    inbox.watch(alice, bob, carol, dave)
    actions.calling_invite(user=bob, call_id=call_id, invitees=["carol"], extended_data="more")
    c = inbox.events(carol)
    assert _names(c) == ["callInvitationReceived", "callUserStateChanged"]
    assert c[0][2]["inviter"] == "bob" and c[0][2]["caller"] == "alice" and c[0][2]["extendedData"] == "more"
    assert _names(inbox.events(alice)) == _names(inbox.events(bob)) == ["callUserStateChanged"]
    actions.call_join(user=dave, call_id=call_id, device_id="d")
    joined = (
        "callUserStateChanged",
        4,
        {"callID": call_id, "callUserList": [{"userID": "dave", "state": 1, "extendedData": ""}]},
    )
    for user in (alice, bob, carol, dave):
        assert inbox.events(user) == [joined]
    actions.call_quit(user=alice, call_id=call_id)
    quit_ = (
        "callUserStateChanged",
        5,
        {"callID": call_id, "callUserList": [{"userID": "alice", "state": 7, "extendedData": ""}]},
    )
    for user in (alice, bob, carol, dave):
        assert inbox.events(user) == [quit_]
    actions.call_end(user=dave, call_id=call_id, extended_data="bye")
    for user in (bob, carol, dave):
        ev = inbox.events(user)
        assert [(n, s) for n, s, _ in ev] == [("callInvitationEnded", 6)]
        assert ev[0][2]["operatedUserID"] == "dave" and ev[0][2]["extendedData"] == "bye" and ev[0][2]["mode"] == 1
    assert inbox.events(alice) == []  # quit: no longer a member who hears about the call


@pytest.mark.django_db(transaction=True)
def test_events_caller_offline_and_delivery(alice, bob, carol, inbox):
    call_id = invite(alice, bob, enable_not_received_check=True)
    inbox.watch(alice, bob, carol)
    CallUser.objects.filter(call__call_id=call_id, user=bob).update(invited_at=timezone.now() - timedelta(minutes=1))
    deadlines.invitations_mark_not_received()
    nyr = (
        "callUserStateChanged",
        2,
        {"callID": call_id, "callUserList": [{"userID": "bob", "state": 9, "extendedData": ""}]},
    )
    assert inbox.events(alice) == [nyr] and inbox.events(bob) == [nyr]
    online(bob)
    rec = (
        "callUserStateChanged",
        3,
        {"callID": call_id, "callUserList": [{"userID": "bob", "state": 5, "extendedData": ""}]},
    )
    assert inbox.events(alice) == [rec] and inbox.events(bob) == [rec]
    assert inbox.events(carol) == []


@pytest.mark.django_db(transaction=True)
def test_no_events_for_refusals(alice, bob, carol, inbox):
    call_id = invite(alice, bob)
    inbox.watch(alice, bob, carol)
    for attempt in (
        lambda: actions.call_cancel(user=bob, call_id=call_id),
        lambda: actions.call_accept(user=alice, call_id=call_id),
        lambda: actions.call_join(user=carol, call_id=call_id),
        lambda: actions.call_invite(user=alice, invitees=["carol"]),
    ):
        with pytest.raises(CallError):
            attempt()
    for user in (alice, bob, carol):
        assert inbox.events(user) == []
