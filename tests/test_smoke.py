import pytest
from django.db import transaction

from invitations import selectors, services
from invitations.models import CallEvent


@pytest.mark.django_db(transaction=True)
def test_invite_accept_general(alice, bob, inbox):
    inbox.watch(alice, bob)
    result = services.call_invite(user=alice, invitees=["bob", "nobody"], timeout=30)
    assert result["errorInvitees"] == [{"userID": "nobody", "reason": "user_not_found"}]
    call_id = result["callID"]
    info = selectors.call_info(user=bob, call_id=call_id)
    assert [m["state"] for m in info["callUserList"]] == [1, 0]
    services.call_accept(user=bob, call_id=call_id, extended_data="hi")
    info = selectors.call_info(user=alice, call_id=call_id)
    assert info["state"] == 2 and info["endTime"] > 0
    print(inbox.events(alice))
    print(inbox.events(bob))
    print(list(CallEvent.objects.values_list("seq", "kind", "from_state", "to_state")))
