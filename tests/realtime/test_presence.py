"""Connections and delivery on connect (realtime/presence.py)."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from invitations.calls import actions, deadlines
from invitations.calls.errors import CallError
from invitations.calls.states import CallMode, CallState
from invitations.calls.states import CallUserState as S
from invitations.models import CallUser, Connection, DeviceAway, UserPresence
from invitations.realtime import presence
from tests.calls.helpers import (
    SERVER,
    backdate_deadline,
    call_of,
    invite,
    log,
    member,
    online,
    snapshot,
    state,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_passwords")]


def test_delivery_on_connect_only_before_deadline(alice, bob, carol):
    call_id = invite(alice, bob, carol)
    backdate_deadline(call_id, carol)
    online(carol)
    online(bob, "b1")
    assert state(call_id, bob) == S.RECEIVED and state(call_id, carol) == S.INVITING
    before = snapshot()
    online(bob, "b2")  # a second device changes nothing
    assert snapshot() == before


def _open(user, device: str) -> bool:
    presence.server_process_heartbeat(server_id=SERVER, host="test", pid=1)
    return presence.connection_open(
        user=user, device_id=device, channel_name=f"test.{user.username}.{device}", server_id=SERVER
    )


def test_connection_open_says_whether_invitations_are_pending(alice, bob, carol):
    """Its answer decides whether the consumer looks for waiting invitations at all."""
    assert _open(bob, "b0") is False  # nothing for bob
    presence.connection_close(channel_name="test.bob.b0")
    call_id = invite(alice, bob, carol)
    backdate_deadline(call_id, carol)
    assert _open(bob, "b1") is True and state(call_id, bob) == S.RECEIVED
    assert _open(bob, "b2") is True  # Received is still pending: the second device lists it
    assert _open(carol, "c1") is False and state(call_id, carol) == S.INVITING  # deadline passed
    actions.call_reject(user=bob, call_id=call_id)
    assert _open(bob, "b3") is False  # answered
    untimed = invite(bob, carol, timeout=0)  # no deadline: pending until answered (carol online: Received)
    assert _open(carol, "c2") is True and state(untimed, carol) == S.RECEIVED
    actions.call_cancel(user=bob, call_id=untimed)
    assert _open(carol, "c3") is False  # the call ended


def test_connection_open_limit_counts_the_users_sockets(settings, alice, bob):
    settings.CALL_MAX_SOCKETS_PER_USER = 2
    _open(alice, "a1")
    _open(alice, "a2")
    _open(bob, "b1")  # another user's sockets do not count
    with pytest.raises(CallError) as refusal:
        _open(alice, "a3")
    assert refusal.value.reason == "rate_limited"
    assert sorted(Connection.objects.filter(user=alice).values_list("device_id", flat=True)) == ["a1", "a2"]
    presence.connection_close(channel_name="test.alice.a1")
    _open(alice, "a4")
    settings.CALL_MAX_SOCKETS_PER_USER = 0  # no limit
    _open(alice, "a5")
    assert Connection.objects.filter(user=alice).count() == 3


def test_first_socket_in_and_last_out_change_presence(alice):
    _open(alice, "a1")
    _open(alice, "a2")
    assert Connection.objects.filter(user=alice).count() == 2
    presence.connection_close(channel_name="test.alice.a1")
    assert not UserPresence.objects.filter(user=alice).exists()  # still online
    presence.connection_close(channel_name="test.alice.a2")
    assert UserPresence.objects.get(user=alice).last_offline_at is not None


# --- members who go away: an Accepted member's call device leaves for the heartbeat timeout -------


def _away_long_ago(user, device: str) -> None:
    DeviceAway.objects.filter(user=user, device_id=device).update(
        since=timezone.now() - timedelta(seconds=settings.CALL_HEARTBEAT_TIMEOUT_SECONDS + 1)
    )


def _answered_call(caller, *invitees, mode=CallMode.ADVANCED, accepting=None) -> tuple[str, dict]:
    """A call placed from the caller's device "<name>-call", accepted by `accepting` (default all
    invitees) each on its own device; the channels by user name."""
    channels = {caller.username: online(caller, f"{caller.username}-call")}
    for user in invitees:
        channels[user.username] = online(user, f"{user.username}-call")
    call_id = invite(caller, *invitees, mode=mode, device_id=f"{caller.username}-call")
    for user in invitees if accepting is None else accepting:
        actions.call_accept(user=user, call_id=call_id, device_id=f"{user.username}-call")
    return call_id, channels


def test_member_whose_call_device_stays_away_quits(alice, bob, carol, capture_frames):
    call_id, channels = _answered_call(alice, bob, carol)
    presence.connection_close(channel_name=channels["bob"])
    assert DeviceAway.objects.filter(user=bob, device_id="bob-call").exists()
    before = snapshot()
    assert deadlines.members_away_quit() == 0  # not for the heartbeat timeout yet
    assert snapshot() == before
    _away_long_ago(bob, "bob-call")
    with capture_frames() as sent:
        assert deadlines.members_away_quit() == 1
    m = member(call_id, bob)
    assert (m.state, m.reason) == (S.QUIT, "offline") and m.quit_at is not None
    assert call_of(call_id).state == CallState.STARTED  # alice and carol are still in it
    assert log(call_id)[-1][1:] == ("state", "bob", S.ACCEPTED, S.QUIT, "offline", "bob")
    change = [{"userID": "bob", "state": S.QUIT, "extendedData": "", "reason": "offline"}]
    for user in (alice, carol, bob):
        assert [(e, d["callUserList"]) for e, _, d in sent.events(user)] == [("callUserStateChanged", change)]
    assert deadlines.members_away_quit() == 0  # once


def test_call_ends_when_no_accepted_member_is_left(alice, bob, capture_frames):
    """Both browsers closed: the call does not stay Started for ever, and both can call again."""
    call_id, channels = _answered_call(alice, bob)
    presence.connection_close(channel_name=channels["alice"])
    presence.connection_close(channel_name=channels["bob"])
    _away_long_ago(alice, "alice-call")
    assert deadlines.members_away_quit(user_id=bob.pk) == 0  # bob's job: bob is not away long enough
    assert deadlines.members_away_quit(user_id=alice.pk) == 1
    assert (state(call_id, alice), call_of(call_id).state) == (S.QUIT, CallState.STARTED)
    _away_long_ago(bob, "bob-call")
    with capture_frames() as sent:
        assert deadlines.members_away_quit(user_id=bob.pk) == 1
    assert (state(call_id, bob), call_of(call_id).state) == (S.QUIT, CallState.ENDED)
    assert [e for e, _, _ in sent.events(bob)] == ["callUserStateChanged"]  # no one Accepted is left to tell
    assert call_of(call_id).ended_by == bob  # operatedUserID
    assert not CallUser.objects.filter(call__call_id=call_id, call_running=True).exists()
    online(alice, "alice-back")
    assert invite(alice, bob)  # not already_in_call


def test_general_call_member_away(alice, bob, carol):
    """General mode (where callQuit is refused): an accepted invitee that goes away quits while
    carol still rings; the caller going away then leaves no Accepted member and the call ends."""
    call_id, channels = _answered_call(alice, bob, carol, mode=CallMode.GENERAL, accepting=[bob])
    assert state(call_id, carol) == S.RECEIVED
    presence.connection_close(channel_name=channels["bob"])
    _away_long_ago(bob, "bob-call")
    assert deadlines.members_away_quit() == 1
    assert (state(call_id, bob), call_of(call_id).state) == (S.QUIT, CallState.STARTED)
    presence.connection_close(channel_name=channels["alice"])
    _away_long_ago(alice, "alice-call")
    assert deadlines.members_away_quit() == 1
    assert (state(call_id, alice), call_of(call_id).state) == (S.QUIT, CallState.ENDED)
    assert state(call_id, carol) == S.RECEIVED  # keeps its state; the call is over
    assert call_of(call_id).ended_by == alice


def test_member_away_not_applied(alice, bob, carol, dave):
    """Back in time, moved by callJoin, or no call device (HTTP): the member stays."""
    call_id, channels = _answered_call(alice, bob, carol)
    # bob comes back on the same device within the timeout
    presence.connection_close(channel_name=channels["bob"])
    online(bob, "bob-call")
    assert not DeviceAway.objects.filter(user=bob).exists()
    # carol moves the call to her phone, then closes the first device
    online(carol, "carol-phone")
    actions.call_join(user=carol, call_id=call_id, device_id="carol-phone")
    presence.connection_close(channel_name=channels["carol"])
    assert not DeviceAway.objects.filter(user=carol).exists()  # not a call device any more
    # dave joined over HTTP with no socket
    actions.call_join(user=dave, call_id=call_id)
    DeviceAway.objects.create(user=dave, device_id="", since=timezone.now() - timedelta(hours=1))
    before = snapshot()
    assert deadlines.sweep()["members_away"] == 0
    assert snapshot() == before
    assert [state(call_id, u) for u in (alice, bob, carol, dave)] == [S.ACCEPTED] * 4


def test_other_devices_do_not_keep_the_member(alice, bob):
    call_id, channels = _answered_call(alice, bob)
    online(bob, "bob-phone")  # still connected elsewhere
    presence.connection_close(channel_name=channels["bob"])
    _away_long_ago(bob, "bob-call")
    assert deadlines.members_away_quit() == 1
    assert state(call_id, bob) == S.QUIT


def test_unanswered_caller_is_left_to_the_caller_offline_rule(alice, bob):
    channel = online(alice, "a1")
    call_id = invite(alice, bob, mode=CallMode.ADVANCED, device_id="a1")
    presence.connection_close(channel_name=channel)
    _away_long_ago(alice, "a1")
    UserPresence.objects.filter(user=alice).update(last_offline_at=timezone.now() - timedelta(hours=1))
    result = deadlines.sweep()
    assert (result["caller_offline"], result["members_away"]) == (1, 0)
    assert (member(call_id, bob).reason, state(call_id, alice)) == ("caller_offline", S.ACCEPTED)


def test_sweep_starts_the_clock_for_a_call_device_without_one(alice, bob):
    """A call device with no socket and no clock (its close raced the accept, or its process died):
    the sweep starts the clock, and quits the member a timeout later; it forgets clocks no call needs."""
    call_id, _ = _answered_call(alice, bob)
    actions.call_join(user=bob, call_id=call_id, device_id="bob-ghost")  # never connected
    DeviceAway.objects.create(user=bob, device_id="bob-old", since=timezone.now() - timedelta(hours=1))
    assert deadlines.sweep()["members_away"] == 0
    assert list(DeviceAway.objects.values_list("device_id", flat=True)) == ["bob-ghost"]
    _away_long_ago(bob, "bob-ghost")
    assert deadlines.sweep()["members_away"] == 1
    assert (state(call_id, bob), state(call_id, alice)) == (S.QUIT, S.ACCEPTED)
