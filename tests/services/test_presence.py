"""Connections and delivery on connect (services/presence.py)."""
import pytest

from invitations import services
from invitations.errors import CallError
from invitations.models import Connection, UserPresence
from invitations.states import CallUserState as S
from tests.services.helpers import SERVER, backdate_deadline, invite, online, snapshot, state

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
    services.server_process_heartbeat(server_id=SERVER, host="test", pid=1)
    return services.connection_open(user=user, device_id=device, channel_name=f"test.{user.username}.{device}",
                                    server_id=SERVER)


def test_connection_open_says_whether_invitations_are_pending(alice, bob, carol):
    """Its answer decides whether the consumer looks for waiting invitations at all."""
    assert _open(bob, "b0") is False  # nothing for bob
    services.connection_close(channel_name="test.bob.b0")
    call_id = invite(alice, bob, carol)
    backdate_deadline(call_id, carol)
    assert _open(bob, "b1") is True and state(call_id, bob) == S.RECEIVED
    assert _open(bob, "b2") is True  # Received is still pending: the second device lists it
    assert _open(carol, "c1") is False and state(call_id, carol) == S.INVITING  # deadline passed
    services.call_reject(user=bob, call_id=call_id)
    assert _open(bob, "b3") is False  # answered
    untimed = invite(bob, carol, timeout=0)  # no deadline: pending until answered (carol online: Received)
    assert _open(carol, "c2") is True and state(untimed, carol) == S.RECEIVED
    services.call_cancel(user=bob, call_id=untimed)
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
    services.connection_close(channel_name="test.alice.a1")
    _open(alice, "a4")
    settings.CALL_MAX_SOCKETS_PER_USER = 0  # no limit
    _open(alice, "a5")
    assert Connection.objects.filter(user=alice).count() == 3


def test_first_socket_in_and_last_out_change_presence(alice):
    _open(alice, "a1")
    _open(alice, "a2")
    assert Connection.objects.filter(user=alice).count() == 2
    services.connection_close(channel_name="test.alice.a1")
    assert not UserPresence.objects.filter(user=alice).exists()  # still online
    services.connection_close(channel_name="test.alice.a2")
    assert UserPresence.objects.get(user=alice).last_offline_at is not None
