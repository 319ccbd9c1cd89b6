"""Each app is a tenant (PROTOCOL "Apps"): the same userID in two apps, and in the site's
own accounts, names three users; invitations, events, lists, users, groups and glare
never cross tenants; payloads show an app's users by their userID (the token's sub)
and names (`userNames`)."""

import io

import pytest
from django.core.management import CommandError, call_command

from invitations.calls import actions, selectors
from invitations.calls.errors import CallError
from invitations.calls.groups import GroupInputError, group_save
from invitations.media import signaling
from invitations.web.commands import COMMANDS
from invitations.web.schemas import QueryUsersCmd
from tests.calls.helpers import online, refused

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_passwords")]


@pytest.fixture
def world(make_user, make_app, app_user):
    """alice and bob in app1; bob and carol in app2; bob, carol and staff root on the site."""
    app1, app2 = make_app("one"), make_app("two")
    return {
        "app1": app1,
        "app2": app2,
        "alice1": app_user(app1, "alice", "Alice One"),
        "bob1": app_user(app1, "bob", "Bob One"),
        "bob2": app_user(app2, "bob", "Bob Two"),
        "carol2": app_user(app2, "carol"),
        "bob": make_user("bob", first_name="Site", last_name="Bob"),
        "carol": make_user("carol"),
        "root": make_user("root", is_staff=True, is_superuser=True),
    }


def test_invitees_are_userids_of_the_inviters_tenant(world, capture_frames):
    app2 = world["app2"]
    with capture_frames() as sent:
        answer = actions.call_invite(
            user=world["alice1"], invitees=["bob", "carol", f"bob#{app2.app_id}", "root", "not valid"]
        )
    assert answer["errorInvitees"] == [
        {"userID": name, "reason": "user_not_found"} for name in ("carol", f"bob#{app2.app_id}", "root", "not valid")
    ]
    [received] = [f for f in sent.to(world["bob1"]) if f["event"] == "callInvitationReceived"]
    data = received["data"]
    assert (data["caller"], data["inviter"]) == ("alice", "alice")
    assert [m["userID"] for m in data["callUserList"]] == ["alice", "bob"]
    assert data["userNames"] == {"alice": "Alice One", "bob": "Bob One"}
    for other in ("bob2", "bob", "carol", "carol2", "root"):
        assert sent.to(world[other]) == [], other
    with refused("no_invitee_registered"):  # the site's bob cannot reach app1's bob by its username
        actions.call_invite(user=world["bob"], invitees=[world["bob1"].username])
    with refused("no_invitee_registered"):
        actions.call_invite(user=world["bob2"], invitees=["alice"])  # app2 has no alice


def test_call_info_and_lists_show_userids_and_names(world):
    call_id = actions.call_invite(user=world["alice1"], invitees=["bob"])["callID"]
    info = COMMANDS["queryCall"].handler(user=world["bob1"], device_id="", call_id=call_id)
    assert (info["caller"], info["userNames"]) == ("alice", {"alice": "Alice One", "bob": "Bob One"})
    listing = COMMANDS["queryCallInvitationList"].handler(user=world["bob1"], device_id="", count=10, next_flag=0)
    assert [c["userNames"] for c in listing["callList"]] == [{"alice": "Alice One", "bob": "Bob One"}]
    for other in ("bob2", "bob"):
        assert (
            COMMANDS["queryCallInvitationList"].handler(user=world[other], device_id="", count=10, next_flag=0)[
                "callList"
            ]
            == []
        )
    site = actions.call_invite(user=world["carol"], invitees=["bob"])["callID"]
    names = COMMANDS["queryCall"].handler(user=world["bob"], device_id="", call_id=site)["userNames"]
    assert names == {"carol": "carol", "bob": "Site Bob"}  # the account's full name, else the userID


def test_users_are_listed_and_searched_within_the_tenant(world, app_user):
    app1 = world["app1"]
    app_user(app1, "zed")

    def users(who: str, search: str = "") -> list[tuple[str, str]]:
        found = COMMANDS["queryUsers"].run(user=world[who], device_id="", body=QueryUsersCmd(search=search, count=50))
        return [(u["userID"], u["name"]) for u in found["users"]]

    assert users("alice1") == [("bob", "Bob One"), ("zed", "zed")]
    assert users("alice1", "bo") == [("bob", "Bob One")]
    assert users("alice1", app1.app_id) == []  # the tenant's suffix is not searched
    assert users("alice1", "#") == []
    assert users("bob2") == [("carol", "carol")]
    assert users("carol") == [("bob", "Site Bob")]  # not root (staff), no app's users


def test_groups_are_per_tenant(world, capture_frames):
    app1, app2 = world["app1"], world["app2"]
    group_save(group_id="team", name="App team", member_user_ids=["alice", "bob"], app_id=app1.app_id)
    group_save(group_id="team", name="Site team", member_user_ids=["bob", "carol"])
    assert selectors.groups_of(user=world["alice1"])["groupList"] == [
        {
            "groupID": "team",
            "name": "App team",
            "memberCount": 2,
            "members": [{"userID": "alice", "online": False}, {"userID": "bob", "online": False}],
        }
    ]
    assert [g["name"] for g in selectors.groups_of(user=world["bob"])["groupList"]] == ["Site team"]
    assert selectors.groups_of(user=world["bob2"])["groupList"] == []
    in_app = actions.call_invite(user=world["alice1"], invitees=["bob"], group_id="team")["callID"]
    on_site = actions.call_invite(user=world["carol"], invitees=["bob"], group_id="team")["callID"]
    assert [
        c.call_id
        for c in selectors.group_started_calls(group=selectors.group_for_member(user=world["bob1"], group_id="team"))
    ] == [in_app]
    assert [
        c.call_id
        for c in selectors.group_started_calls(group=selectors.group_for_member(user=world["bob"], group_id="team"))
    ] == [on_site]
    with refused("group_not_found"):
        actions.call_invite(user=world["bob2"], invitees=["carol"], group_id="team")
    with pytest.raises(CallError) as outsider:
        COMMANDS["queryGroupCalls"].handler(user=world["bob2"], device_id="", group_id="team")
    assert outsider.value.reason == "group_not_found"
    # an app's group may name users no token has made yet; never another tenant's
    group_save(group_id="later", member_user_ids=["newcomer"], app_id=app2.app_id)
    with pytest.raises(GroupInputError, match="not a userID"):
        group_save(group_id="bad", member_user_ids=[world["bob1"].username], app_id=app2.app_id)
    with pytest.raises(GroupInputError, match="no such active user"):
        group_save(group_id="bad", member_user_ids=["newcomer"])  # the site makes no accounts here


def test_group_add_command_with_an_app(world):
    app1 = world["app1"]
    out = io.StringIO()
    call_command("group_add", "crew", "--name", "Crew", "--members", "bob", "alice", "--app", app1.app_id, stdout=out)
    assert out.getvalue().strip() == "Group crew (Crew): alice, bob"
    with pytest.raises(CommandError, match="no app"):
        call_command("group_add", "crew", "--app", "1", stdout=io.StringIO())


def test_glare_never_merges_across_tenants(world):
    rings = actions.call_invite(user=world["bob1"], invitees=["alice"])["callID"]
    # the site's bob calls a carol, not app1's alice: nothing to merge with
    answer = actions.call_invite(user=world["carol"], invitees=["bob"])
    assert "merged" not in answer and answer["callID"] != rings
    merged = actions.call_invite(user=world["alice1"], invitees=["bob"])  # within app1: glare
    assert merged["merged"] is True and merged["callID"] == rings


def test_signals_reach_the_members_of_the_senders_tenant(world):
    call_id = actions.call_invite(user=world["alice1"], device_id="a", invitees=["bob"])["callID"]
    online(world["bob1"])
    actions.call_accept(user=world["bob1"], call_id=call_id, device_id="d1")
    sent = signaling.call_signal(
        user=world["alice1"], device_id="a", call_id=call_id, to_user_id="bob", kind="offer", payload={}
    )
    assert sent == {"callID": call_id}
    for target in (world["bob1"].username, f"bob#{world['app2'].app_id}"):
        with pytest.raises(CallError) as wrong:
            signaling.call_signal(
                user=world["alice1"], device_id="a", call_id=call_id, to_user_id=target, kind="offer", payload={}
            )
        assert wrong.value.reason == "invalid_argument"


def test_an_operator_ends_an_apps_call_without_naming_itself(world, capture_frames):
    call_id = actions.call_invite(user=world["alice1"], invitees=["bob"])["callID"]
    with capture_frames() as sent:
        actions.call_end_by_operator(operator=world["root"], call_id=call_id)
    [ended] = [f for f in sent.to(world["alice1"]) if f["event"] == "callInvitationEnded"]
    assert ended["data"]["operatedUserID"] == ""  # root is no userID of app1's
    site = actions.call_invite(user=world["carol"], invitees=["bob"])["callID"]
    with capture_frames() as sent:
        actions.call_end_by_operator(operator=world["root"], call_id=site)
    [ended] = [f for f in sent.to(world["carol"]) if f["event"] == "callInvitationEnded"]
    assert ended["data"]["operatedUserID"] == "root"
