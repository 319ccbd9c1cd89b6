"""Connections and delivery on connect (services/presence.py)."""
import pytest

from invitations.states import CallUserState as S
from tests.services.helpers import backdate_deadline, invite, online, snapshot, state

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
