"""Timeouts, the not-received check and the caller-offline rule (calls/deadlines.py)."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from invitations.calls import actions, deadlines
from invitations.calls.states import CallMode, CallState
from invitations.calls.states import CallUserState as S
from invitations.models import CallUser, UserPresence
from invitations.realtime import presence
from tests.calls.helpers import (
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


# --- deadlines, delivery, presence ---------------------------------------------------------------


def test_expire_only_what_is_due(alice, bob, carol):
    call_id = invite(alice, bob, carol)
    before = snapshot()
    assert deadlines.invitations_expire_due() == 0
    assert snapshot() == before
    backdate_deadline(call_id, bob)
    assert deadlines.invitations_expire_due() == 1
    m = member(call_id, bob)
    assert (m.state, m.reason) == (S.TIMEOUT, "timeout") and state(call_id, carol) == S.INVITING
    assert log(call_id)[-1] == (2, "state", "bob", S.INVITING, S.TIMEOUT, "timeout", None)
    before = snapshot()
    assert deadlines.invitations_expire_due() == 0
    assert snapshot() == before


def test_not_received_check_then_delivery(alice, bob, carol):
    call_id = invite(alice, bob, carol, enable_not_received_check=True)
    assert deadlines.invitations_mark_not_received() == 0  # not yet 5 s
    CallUser.objects.filter(call__call_id=call_id, user__in=[bob, carol]).update(
        invited_at=timezone.now() - timedelta(seconds=settings.CALL_NOT_RECEIVED_CHECK_SECONDS + 1)
    )
    assert deadlines.invitations_mark_not_received() == 2
    assert state(call_id, bob) == S.NOT_YET_RECEIVED
    assert deadlines.invitations_mark_not_received() == 0
    online(bob)
    assert state(call_id, bob) == S.RECEIVED and state(call_id, carol) == S.NOT_YET_RECEIVED
    assert log(call_id)[-1] == (3, "state", "bob", S.NOT_YET_RECEIVED, S.RECEIVED, "", None)
    actions.call_accept(user=carol, call_id=call_id)  # NotYetReceived may answer
    assert state(call_id, carol) == S.ACCEPTED


def test_not_received_check_only_when_enabled(alice, bob):
    call_id = invite(alice, bob)
    CallUser.objects.filter(call__call_id=call_id, user=bob).update(invited_at=timezone.now() - timedelta(seconds=60))
    assert deadlines.invitations_mark_not_received() == 0
    assert state(call_id, bob) == S.INVITING


def _went_offline_long_ago(user) -> None:
    UserPresence.objects.filter(user=user).update(
        last_offline_at=timezone.now() - timedelta(seconds=settings.CALL_HEARTBEAT_TIMEOUT_SECONDS + 1)
    )


def test_caller_offline_cancels(alice, bob, carol):
    channel = online(alice)
    call_id = invite(alice, bob, carol)
    presence.connection_close(channel_name=channel)
    assert deadlines.callers_offline_cancel() == 0  # not yet for the heartbeat timeout
    assert state(call_id, bob) == S.INVITING
    _went_offline_long_ago(alice)
    assert deadlines.callers_offline_cancel() == 2
    assert [member(call_id, u).reason for u in (bob, carol)] == ["caller_offline"] * 2
    assert state(call_id, bob) == S.CANCELLED
    call = call_of(call_id)
    assert call.state == CallState.ENDED
    assert log(call_id)[-3][1:] == ("state", "bob", S.INVITING, S.CANCELLED, "caller_offline", "alice")
    assert deadlines.callers_offline_cancel() == 0


def test_caller_offline_advanced_call_ends(alice, bob):
    channel = online(alice)
    call_id = invite(alice, bob, mode=CallMode.ADVANCED)
    presence.connection_close(channel_name=channel)
    _went_offline_long_ago(alice)
    assert deadlines.callers_offline_cancel(user_id=alice.pk) == 1
    assert call_of(call_id).state == CallState.ENDED
    assert state(call_id, alice) == S.ACCEPTED and state(call_id, bob) == S.CANCELLED


def test_caller_offline_not_applied(alice, bob, carol, dave):
    # placed over HTTP with no device connected: never subject
    http_call = invite(alice, bob)
    UserPresence.objects.create(user=alice, last_offline_at=timezone.now() - timedelta(hours=1))
    # the caller came back on another device
    ch1 = online(carol, "c1")
    back_call = invite(carol, dave)
    presence.connection_close(channel_name=ch1)
    online(carol, "c2")
    _went_offline_long_ago(carol)
    before = snapshot()
    assert deadlines.callers_offline_cancel() == 0
    assert snapshot() == before
    actions.call_cancel(user=carol, call_id=back_call)
    # an invitee accepted
    ch = online(dave)
    accepted_call = invite(dave, carol, bob)
    actions.call_accept(user=carol, call_id=accepted_call)
    presence.connection_close(channel_name=ch)
    _went_offline_long_ago(dave)
    before = snapshot()
    assert deadlines.callers_offline_cancel() == 0
    assert deadlines.sweep()["caller_offline"] == 0
    assert snapshot() == before
    assert state(http_call, bob) == S.INVITING and state(accepted_call, bob) == S.INVITING
