"""One bad call must not block the sweep: a call whose
expiry the database refuses (a planted trigger, as in test_faults) is logged
and skipped; the other calls of its batch are expired and the other sweep
steps run."""

import logging
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from invitations.calls import actions, deadlines
from invitations.calls.states import CallUserState as S
from invitations.models import CallUser
from tests.test_faults import _drop_failing_trigger, _install_failing_trigger
from tests.web.test_call_list_page import drop_scheduled_jobs  # noqa: F401


@pytest.mark.django_db(transaction=True)
def test_poison_call_is_skipped_and_the_rest_swept(make_user, caplog, drop_scheduled_jobs):  # noqa: F811
    callers = [make_user(f"caller{i}") for i in range(6)]
    bob, poison, late = make_user("bob"), make_user("poison"), make_user("late")
    good = [actions.call_invite(user=c, invitees=["bob"])["callID"] for c in callers[:4]]
    bad = actions.call_invite(user=callers[4], invitees=["poison"])["callID"]
    waiting = actions.call_invite(user=callers[5], invitees=["late"], enable_not_received_check=True)["callID"]
    CallUser.objects.filter(call__call_id__in=good + [bad], user__in=[bob, poison]).update(
        deadline=timezone.now() - timedelta(seconds=1)
    )
    CallUser.objects.filter(call__call_id=waiting, user=late).update(
        invited_at=timezone.now() - timedelta(seconds=settings.CALL_NOT_RECEIVED_CHECK_SECONDS + 1)
    )
    _install_failing_trigger(poison.pk, S.TIMEOUT)
    try:
        with caplog.at_level(logging.ERROR, logger="invitations"):
            result = deadlines.sweep()
            again = deadlines.sweep()
    finally:
        _drop_failing_trigger()
    assert result["expired"] == 4 and result["not_received"] == 1, result
    assert again["expired"] == 0, again
    assert (
        list(CallUser.objects.filter(call__call_id__in=good, user=bob).values_list("state", flat=True))
        == [S.TIMEOUT] * 4
    )
    assert CallUser.objects.get(call__call_id=bad, user=poison).state == S.INVITING
    assert CallUser.objects.get(call__call_id=waiting, user=late).state == S.NOT_YET_RECEIVED
    assert any(bad in record.getMessage() for record in caplog.records), "the poison call is not logged"
    # once the fault is gone the poison call expires too
    assert deadlines.sweep()["expired"] == 1
    assert CallUser.objects.get(call__call_id=bad, user=poison).state == S.TIMEOUT
