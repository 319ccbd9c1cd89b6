"""PROTOCOL additions "Groups", "Options from Tencent TSignaling" and "Glare", through
the services on the real database: every rule allowed and refused, a refusal
changing nothing, and the frames each write sends (checked against payloads.py)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from invitations.calls import actions, deadlines, selectors
from invitations.calls.groups import group_save
from invitations.calls.states import CallMode, CallState
from invitations.calls.states import CallUserState as S
from invitations.models import Call, CallUser, Group, UserPresence
from invitations.realtime import presence
from invitations.web import commands
from tests.calls.helpers import (
    backdate_deadline,
    call_of,
    invite,
    member,
    online,
    refused,
    state,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_passwords")]


@pytest.fixture
def erin(make_user):
    return make_user("erin")


@pytest.fixture
def team(alice, bob, carol):
    """alice, bob and carol; dave is not in it."""
    return group_save(group_id="team", name="Team", member_user_ids=["alice", "bob", "carol"])


def scheduled_expiry_jobs() -> int:
    import django_rq
    from django.conf import settings

    return len(django_rq.get_queue(settings.CALL_QUEUE).scheduled_job_registry.get_job_ids())


@pytest.fixture
def no_jobs():
    """Scheduled RQ jobs are real (no worker runs here): start and end with none."""
    import django_rq
    from django.conf import settings

    def clear() -> None:
        registry = django_rq.get_queue(settings.CALL_QUEUE).scheduled_job_registry
        for job_id in registry.get_job_ids():
            registry.remove(job_id, delete_job=True)

    clear()
    yield
    clear()


# --- groups -----------------------------------------------------------------------------------------


def test_group_list_has_my_groups_with_member_counts(alice, bob, carol, dave, team):
    group_save(group_id="other", name="Other", member_user_ids=["bob", "dave"])
    group_save(group_id="pair", name="Pair", member_user_ids=["alice", "dave"])
    online(dave)
    listed = selectors.groups_of(user=alice)["groupList"]
    assert [(g["groupID"], g["name"], g["memberCount"]) for g in listed] == [("pair", "Pair", 2), ("team", "Team", 3)]
    pair = listed[0]
    assert pair["members"] == [{"userID": "alice", "online": False}, {"userID": "dave", "online": True}]
    assert selectors.groups_of(user=carol)["groupList"][0]["groupID"] == "team"
    assert selectors.groups_of(user=dave)["groupList"][0]["memberCount"] == 2


def test_group_call_invites_members_and_lists_outsiders(alice, bob, carol, dave, team, capture_frames):
    online(bob)
    with capture_frames() as sent:
        result = actions.call_invite(user=alice, invitees=["bob", "dave", "carol", "ghost"], group_id="team", mode=1)
    assert result["errorInvitees"] == [
        {"userID": "dave", "reason": "not_group_member"},
        {"userID": "ghost", "reason": "user_not_found"},
    ]
    call_id = result["callID"]
    assert call_of(call_id).group == team
    assert not CallUser.objects.filter(call__call_id=call_id, user=dave).exists()
    assert (state(call_id, bob), state(call_id, carol)) == (S.RECEIVED, S.INVITING)
    received = [d for e, _, d in sent.events(bob) if e == "callInvitationReceived"]
    assert received and received[0]["groupID"] == "team"
    assert services_call_info(alice, call_id)["groupID"] == "team"
    # a late device gets the same frame, groupID included
    assert selectors.pending_invitations_for(user=carol)[0]["data"]["groupID"] == "team"


def services_call_info(user, call_id: str) -> dict:
    return commands.query_call(user=user, device_id="", call_id=call_id)


def test_calls_without_a_group_carry_an_empty_group_id(alice, bob, capture_frames):
    with capture_frames() as sent:
        call_id = invite(alice, bob)
    assert [d["groupID"] for e, _, d in sent.events(bob) if e == "callInvitationReceived"] == [""]
    assert services_call_info(alice, call_id)["groupID"] == ""
    assert selectors.pending_invitations_for(user=bob)[0]["data"]["groupID"] == ""


def test_group_call_refused_to_non_members_and_unknown_groups(alice, bob, dave, team):
    with refused("group_not_found"):
        actions.call_invite(user=dave, invitees=["bob"], group_id="team")
    with refused("group_not_found"):
        actions.call_invite(user=alice, invitees=["bob"], group_id="nope")
    with refused("no_invitee_registered"):  # nobody of the group among the invitees
        actions.call_invite(user=alice, invitees=["dave"], group_id="team")


def test_group_call_join_open_to_group_members_only(alice, bob, carol, dave, team):
    call_id = invite(alice, bob, group_id="team", mode=CallMode.ADVANCED)
    with refused("call_not_found"):
        actions.call_join(user=dave, call_id=call_id)
    answer = actions.call_join(user=carol, call_id=call_id, device_id="c1")
    assert answer["callID"] == call_id and state(call_id, carol) == S.ACCEPTED
    # a member removed from the group can no longer join it
    group_save(group_id="team", member_user_ids=["alice", "bob"])
    actions.call_quit(user=carol, call_id=call_id)
    with refused("call_not_found"):
        actions.call_join(user=carol, call_id=call_id)
    # an ordinary advanced call stays open to anyone who knows its callID
    other = invite(bob, dave, mode=CallMode.ADVANCED)
    actions.call_join(user=carol, call_id=other)
    assert state(other, carol) == S.ACCEPTED


def test_general_group_call_is_not_joinable(alice, bob, carol, team):
    call_id = invite(alice, bob, group_id="team")
    with refused("call_not_found"):
        actions.call_join(user=carol, call_id=call_id)


def test_calling_invite_in_a_group_call_keeps_to_the_group(alice, bob, carol, dave, team):
    call_id = invite(alice, bob, group_id="team", mode=CallMode.ADVANCED)
    result = actions.calling_invite(user=alice, call_id=call_id, invitees=["dave", "carol"])
    assert result["errorInvitees"] == [{"userID": "dave", "reason": "not_group_member"}]
    assert state(call_id, carol) == S.INVITING
    with refused("no_invitee_registered"):
        actions.calling_invite(user=alice, call_id=call_id, invitees=["dave"])


def test_group_calls_lists_started_calls_newest_first(alice, bob, carol, dave, team):
    first = invite(alice, bob, group_id="team", mode=CallMode.ADVANCED)
    second = invite(carol, bob, group_id="team", mode=CallMode.ADVANCED)
    plain = invite(dave, bob)
    listed = commands.query_group_calls(device_id="", user=bob, group_id="team")["callList"]
    assert [c["callID"] for c in listed] == [second, first]
    assert all(c["groupID"] == "team" and c["state"] == CallState.STARTED for c in listed)
    assert plain not in [c["callID"] for c in listed]
    actions.call_end(user=carol, call_id=second)
    assert [c["callID"] for c in commands.query_group_calls(device_id="", user=alice, group_id="team")["callList"]] == [
        first
    ]
    with refused("group_not_found"):
        commands.query_group_calls(device_id="", user=dave, group_id="team")
    with refused("group_not_found"):
        commands.query_group_calls(device_id="", user=alice, group_id="nope")


# --- timeout 0 --------------------------------------------------------------------------------------


def test_timeout_zero_has_no_deadline_and_no_expiry(alice, bob, carol, no_jobs, capture_frames):
    online(bob)
    with capture_frames() as sent:
        result = actions.call_invite(user=alice, invitees=["bob", "carol"], timeout=0)
    assert result["timeout"] == 0
    call_id = result["callID"]
    assert member(call_id, bob).deadline is None and member(call_id, carol).deadline is None
    received = [d for e, _, d in sent.events(bob) if e == "callInvitationReceived"][0]
    assert (received["timeout"], received["deadline"]) == (0, 0)
    assert scheduled_expiry_jobs() == 0
    assert deadlines.invitations_expire_due() == 0 and deadlines.sweep()["expired"] == 0
    assert (state(call_id, bob), state(call_id, carol)) == (S.RECEIVED, S.INVITING)
    # carol connects much later: still delivered, deadline 0 where shown
    online(carol)
    assert state(call_id, carol) == S.RECEIVED
    waiting = selectors.pending_invitations_for(user=carol)
    assert [(f["data"]["callID"], f["data"]["timeout"], f["data"]["deadline"]) for f in waiting] == [(call_id, 0, 0)]
    actions.call_accept(user=bob, call_id=call_id)
    actions.call_reject(user=carol, call_id=call_id)
    assert call_of(call_id).state == CallState.ENDED


def test_timeout_zero_ends_by_cancel_and_by_call_end(alice, bob, carol, no_jobs):
    call_id = invite(alice, bob, timeout=0)
    actions.call_cancel(user=alice, call_id=call_id)
    assert state(call_id, bob) == S.CANCELLED
    call_id = invite(alice, bob, carol, timeout=0, mode=CallMode.ADVANCED)
    actions.call_accept(user=bob, call_id=call_id)
    actions.call_end(user=bob, call_id=call_id)
    assert state(call_id, carol) == S.INVITING and call_of(call_id).state == CallState.ENDED
    assert selectors.pending_invitations_for(user=carol) == []


def test_timeout_zero_ends_when_the_caller_goes_offline(alice, bob, settings, no_jobs):
    channel = online(alice)
    call_id = invite(alice, bob, timeout=0)
    presence.connection_close(channel_name=channel)
    UserPresence.objects.filter(user=alice).update(
        last_offline_at=timezone.now() - timedelta(seconds=settings.CALL_HEARTBEAT_TIMEOUT_SECONDS + 1)
    )
    assert deadlines.callers_offline_cancel() == 1
    assert (state(call_id, bob), member(call_id, bob).reason) == (S.CANCELLED, "caller_offline")


def test_calling_invite_timeout_zero(alice, bob, carol, no_jobs):
    call_id = invite(alice, bob, mode=CallMode.ADVANCED)
    actions.call_accept(user=bob, call_id=call_id)
    no_before = scheduled_expiry_jobs()
    result = actions.calling_invite(user=bob, call_id=call_id, invitees=["carol"], timeout=0)
    assert result["timeout"] == 0 and member(call_id, carol).deadline is None
    assert scheduled_expiry_jobs() == no_before
    assert deadlines.invitations_expire_due() == 0


# --- onlineUserOnly ---------------------------------------------------------------------------------


def test_online_user_only_invites_only_connected_invitees(alice, bob, carol, dave):
    online(bob)
    result = actions.call_invite(user=alice, invitees=["carol", "bob", "ghost", "dave"], online_user_only=True)
    assert result["errorInvitees"] == [
        {"userID": "carol", "reason": "user_offline"},
        {"userID": "ghost", "reason": "user_not_found"},
        {"userID": "dave", "reason": "user_offline"},
    ]
    call_id = result["callID"]
    assert list(
        CallUser.objects.filter(call__call_id=call_id).values_list("user__username", flat=True).order_by("pk")
    ) == ["alice", "bob"]


def test_online_user_only_with_nobody_online_is_refused(alice, bob, carol):
    with refused("no_invitee_registered"):
        actions.call_invite(user=alice, invitees=["bob", "carol"], online_user_only=True)


def test_online_user_only_default_invites_offline_users(alice, bob):
    call_id = invite(alice, bob)
    assert state(call_id, bob) == S.INVITING


def test_calling_invite_online_user_only(alice, bob, carol, dave):
    call_id = invite(alice, bob, mode=CallMode.ADVANCED)
    online(dave)
    result = actions.calling_invite(user=alice, call_id=call_id, invitees=["carol", "dave"], online_user_only=True)
    assert result["errorInvitees"] == [{"userID": "carol", "reason": "user_offline"}]
    assert state(call_id, dave) == S.RECEIVED
    assert not CallUser.objects.filter(call__call_id=call_id, user=carol).exists()
    with refused("no_invitee_registered"):
        actions.calling_invite(user=alice, call_id=call_id, invitees=["carol"], online_user_only=True)


# --- glare ------------------------------------------------------------------------------------------


def test_glare_accepts_the_invitees_call(alice, bob, carol, capture_frames):
    online(bob)
    call_id = invite(alice, bob, carol, mode=CallMode.ADVANCED)
    calls_before = Call.objects.count()
    with capture_frames() as sent:
        answer = actions.call_invite(user=bob, invitees=["alice"], extended_data="bob's", device_id="b7")
    assert answer == {
        "callID": call_id,
        "timeout": 90,
        "errorInvitees": [],
        "merged": True,
        "createTime": answer["createTime"],
    }
    assert answer["createTime"] == services_call_info(alice, call_id)["createTime"]
    assert Call.objects.count() == calls_before
    me = member(call_id, bob)
    assert (me.state, me.extended_data, me.device_id) == (S.ACCEPTED, "bob's", "b7")
    # the usual events of an accept, and nothing else
    changed = [(e, d["callUserList"]) for e, _, d in sent.events(alice)]
    assert changed == [("callUserStateChanged", [{"userID": "bob", "state": S.ACCEPTED, "extendedData": "bob's"}])]
    assert [e for e, _, _ in sent.events(carol)] == ["callUserStateChanged"]
    assert [e for e, _, _ in sent.events(bob)] == ["callUserStateChanged"]


def test_glare_in_general_mode_ends_the_invitation(alice, bob):
    call_id = invite(alice, bob)
    answer = actions.call_invite(user=bob, invitees=["alice"], timeout=30)
    assert answer["merged"] is True and answer["callID"] == call_id and answer["timeout"] == 30
    assert call_of(call_id).state == CallState.ENDED
    assert (state(call_id, alice), state(call_id, bob)) == (S.ACCEPTED, S.ACCEPTED)


def test_glare_takes_the_newest_ringing_call(alice, bob, carol):
    older = invite(alice, bob, mode=CallMode.ADVANCED)
    actions.call_end(user=alice, call_id=older)  # ended: not a candidate
    first = invite(alice, bob, timeout=0)
    actions.call_cancel(user=alice, call_id=first)
    newest = invite(alice, bob)
    assert actions.call_invite(user=bob, invitees=["alice"])["callID"] == newest


@pytest.mark.parametrize("case", ["two invitees", "not the caller", "answered", "overdue", "ended"])
def test_not_glare_makes_a_new_call(alice, bob, carol, case):
    if case == "two invitees":
        theirs = invite(alice, bob)
        invitees = ["alice", "carol"]
    elif case == "not the caller":  # bob rings in carol's call that alice is in; bob calls alice
        theirs = invite(carol, bob, alice, mode=CallMode.ADVANCED)
        invitees = ["alice"]
    elif case == "answered":
        theirs = invite(alice, bob, carol)
        actions.call_reject(user=bob, call_id=theirs)
        invitees = ["alice"]
    elif case == "overdue":
        theirs = invite(alice, bob)
        backdate_deadline(theirs, bob)
        invitees = ["alice"]
    else:
        theirs = invite(alice, bob)
        actions.call_cancel(user=alice, call_id=theirs)
        invitees = ["alice"]
    before = {c: list(CallUser.objects.filter(call__call_id=c).values_list("state", flat=True)) for c in [theirs]}
    answer = actions.call_invite(user=bob, invitees=invitees)
    assert "merged" not in answer and answer["callID"] != theirs
    assert {
        c: list(CallUser.objects.filter(call__call_id=c).values_list("state", flat=True)) for c in [theirs]
    } == before


def test_glare_refused_while_in_a_call(alice, bob, carol):
    talking = invite(carol, bob, mode=CallMode.ADVANCED)
    actions.call_accept(user=bob, call_id=talking)
    invite(alice, bob)
    with refused("already_in_call"):
        actions.call_invite(user=bob, invitees=["alice"])


def test_glare_refusals_of_the_request_come_first(alice, bob, dave, team):
    invite(alice, bob)
    with refused("group_not_found"):
        actions.call_invite(user=bob, invitees=["alice"], group_id="nope")


def test_glare_of_a_group_call(alice, bob, carol, team):
    call_id = invite(alice, bob, carol, group_id="team", mode=CallMode.ADVANCED)
    answer = actions.call_invite(user=bob, invitees=["alice"], group_id="team")
    assert answer["merged"] is True and answer["callID"] == call_id
    assert Group.objects.get(group_id="team").calls.count() == 1
