"""payloads.py builds each frame once: an invitation sent live and the same
invitation sent again to a device that connects later are the same frame,
and every frame an operation sends fits its payload type."""

import pytest
from django.utils import timezone

from invitations.calls import actions, deadlines, selectors
from invitations.calls.states import CallMode
from invitations.models import CallUser
from tests.calls.helpers import invite, online

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_passwords")]

PUSH_A = {"title": "from alice", "content": "a", "payload": ""}
PUSH_B = {"title": "from bob", "content": "b", "payload": "p"}


def received(sent, user) -> list[dict]:
    return [f for f in sent.to(user) if f["event"] == "callInvitationReceived"]


def test_call_invite_live_and_replayed_are_the_same_frame(alice, bob, carol, capture_frames):
    online(bob)  # Received at once, so nothing changes when a second device connects
    with capture_frames() as sent:
        actions.call_invite(user=alice, invitees=["bob", "carol"], extended_data="x", timeout=60, push_config=PUSH_A)
    [live] = received(sent, bob)
    assert live["data"]["pushConfig"] == PUSH_A
    assert selectors.pending_invitations_for(user=bob) == [live]
    # one frame serves every invitee of the operation, online or not
    assert received(sent, carol) == [live]


def test_calling_invite_live_and_replayed_are_the_same_frame(alice, bob, carol, capture_frames):
    call_id = invite(alice, bob, mode=CallMode.ADVANCED, push_config=PUSH_A, extended_data="call")
    actions.call_accept(user=bob, call_id=call_id)
    online(carol)
    with capture_frames() as sent:
        actions.calling_invite(user=bob, call_id=call_id, invitees=["carol"], extended_data="bob's", push_config=PUSH_B)
    [live] = received(sent, carol)
    assert live["data"]["inviter"] == "bob" and live["data"]["extendedData"] == "bob's"
    assert live["data"]["pushConfig"] == PUSH_B
    assert selectors.pending_invitations_for(user=carol) == [live]


def test_late_invitee_of_calling_invite_gets_its_inviters_push_config(alice, bob, carol):
    call_id = invite(alice, bob, mode=CallMode.ADVANCED, push_config=PUSH_A)
    actions.call_accept(user=bob, call_id=call_id)
    actions.calling_invite(user=bob, call_id=call_id, invitees=["carol"], push_config=PUSH_B)
    [frame] = selectors.pending_invitations_for(user=carol)  # carol connects after the invitation
    assert frame["data"]["pushConfig"] == PUSH_B  # was alice's (the call's) before


def test_invitation_without_push_config_has_none(alice, bob, carol):
    call_id = invite(alice, bob, mode=CallMode.ADVANCED, push_config=PUSH_A)
    actions.call_accept(user=bob, call_id=call_id)
    actions.calling_invite(user=bob, call_id=call_id, invitees=["carol"])
    [frame] = selectors.pending_invitations_for(user=carol)
    assert "pushConfig" not in frame["data"]


def test_quit_and_end_carry_their_push_config(alice, bob, carol, capture_frames):
    call_id = invite(alice, bob, carol, mode=CallMode.ADVANCED)
    actions.call_accept(user=bob, call_id=call_id)
    actions.call_accept(user=carol, call_id=call_id)
    with capture_frames() as sent:
        actions.call_quit(user=carol, call_id=call_id, push_config=PUSH_B)
    assert [(e, d.get("pushConfig")) for e, _, d in sent.events(alice)] == [("callUserStateChanged", PUSH_B)]
    with capture_frames() as sent:
        actions.call_end(user=bob, call_id=call_id, push_config=PUSH_A)
    assert [(e, d["pushConfig"]) for e, _, d in sent.events(alice)] == [("callInvitationEnded", PUSH_A)]
    with capture_frames() as sent:  # without one, none
        call_id = invite(alice, bob, mode=CallMode.ADVANCED)
        actions.call_accept(user=bob, call_id=call_id)
        actions.call_end(user=bob, call_id=call_id)
    assert all("pushConfig" not in f["data"] for _, f in sent)


def test_every_frame_of_every_operation_fits_its_payload_type(alice, bob, carol, dave, capture_frames):
    """capture_frames checks each frame against payloads.py; here every kind of frame is sent once."""
    online(alice)
    with capture_frames() as sent:
        online(dave)
        call_id = invite(alice, bob, carol, dave, mode=CallMode.ADVANCED, push_config=PUSH_A)
        actions.call_cancel(user=alice, call_id=call_id, invitees=["dave"], push_config=PUSH_B)
        actions.call_accept(user=bob, call_id=call_id, extended_data="hi")
        actions.call_reject(user=carol, call_id=call_id, reason="busy")
        actions.calling_invite(user=bob, call_id=call_id, invitees=["carol"], timeout=5)
        actions.call_join(user=dave, call_id=call_id, device_id="d2")
        actions.call_quit(user=dave, call_id=call_id)
        CallUser.objects.filter(user=carol, call__call_id=call_id).update(deadline=timezone.now())
        deadlines.invitations_expire_due(call_id=call_id)
        actions.call_end_by_operator(operator=dave, call_id=call_id)
    kinds = {f["event"] for _, f in sent}
    assert kinds == {
        "callInvitationCreated",
        "callInvitationReceived",
        "callInvitationCancelled",
        "callUserStateChanged",
        "callInvitationTimeout",
        "callInvitationEnded",
        "userPresenceChanged",
    }
