"""PROTOCOL additions over HTTP and the WebSocket: /api/groups, a group's calls, callInvite's
groupID / timeout 0 / onlineUserOnly, and a glare answer; refusals change nothing."""

import pytest
from channels.db import database_sync_to_async

from invitations.accounts import token_actions
from invitations.calls import groups
from invitations.calls.states import CallUserState as S
from invitations.models import Call, CallUser
from tests.realtime.test_consumer import close_sync_thread_connections, connect  # noqa: F401  (fixture)
from tests.web.test_api import Api, assert_error, snapshot

pytestmark = pytest.mark.usefixtures("fast_passwords")


@pytest.fixture
def api(alice, bob, carol, dave):
    groups.group_save(group_id="team", name="Team", member_user_ids=["alice", "bob", "carol"])
    return {u.username: Api(u) for u in (alice, bob, carol, dave)}


@pytest.mark.django_db
def test_groups_endpoint(api):
    body = api["alice"].get("/api/groups").json()
    assert body == {
        "groupList": [
            {
                "groupID": "team",
                "name": "Team",
                "memberCount": 3,
                "members": [
                    {"userID": "alice", "online": False},
                    {"userID": "bob", "online": False},
                    {"userID": "carol", "online": False},
                ],
            }
        ]
    }
    assert api["dave"].get("/api/groups").json() == {"groupList": []}
    assert_error(Api().get("/api/groups"), 401, "unauthenticated")


@pytest.mark.django_db
def test_group_calls_endpoint(api):
    r = api["alice"].post("/api/calls", {"invitees": ["bob", "dave"], "groupID": "team", "mode": 1})
    assert r.status_code == 200, r.content
    assert r.json()["errorInvitees"] == [{"userID": "dave", "reason": "not_group_member"}]
    call_id = r.json()["callID"]
    listed = api["carol"].get("/api/groups/team/calls").json()["callList"]
    assert [(c["callID"], c["groupID"], c["inviter"]) for c in listed] == [(call_id, "team", "alice")]
    assert api["bob"].get(f"/api/calls/{call_id}").json()["groupID"] == "team"
    before = snapshot()
    assert_error(api["dave"].get("/api/groups/team/calls"), 404, "group_not_found")
    assert_error(api["alice"].get("/api/groups/nope/calls"), 404, "group_not_found")
    assert_error(api["dave"].post(f"/api/calls/{call_id}/join", {}), 404, "call_not_found", 6000276)
    assert_error(api["dave"].post("/api/calls", {"invitees": ["bob"], "groupID": "team"}), 404, "group_not_found")
    assert snapshot() == before
    r = api["carol"].post(f"/api/calls/{call_id}/join", {})
    assert (
        r.status_code == 200 and CallUser.objects.get(call__call_id=call_id, user__username="carol").state == S.ACCEPTED
    )


@pytest.mark.django_db
def test_options_over_http(api):
    before = snapshot()
    assert_error(
        api["alice"].post("/api/calls", {"invitees": ["bob"], "onlineUserOnly": True}),
        400,
        "no_invitee_registered",
        6000281,
    )
    assert_error(
        api["alice"].post("/api/calls", {"invitees": ["bob"], "onlineUserOnly": "yes"}), 400, "invalid_argument"
    )
    assert_error(api["alice"].post("/api/calls", {"invitees": ["bob"], "groupID": 5}), 400, "invalid_argument")
    assert snapshot() == before
    r = api["alice"].post("/api/calls", {"invitees": ["bob"], "timeout": 0})
    assert r.json()["timeout"] == 0 and CallUser.objects.get(user__username="bob").deadline is None
    waiting = api["bob"].get(f"/api/calls/{r.json()['callID']}").json()
    assert waiting["groupID"] == "" and waiting["connectTime"] == 0


@pytest.mark.django_db
def test_glare_over_http(api):
    call_id = api["alice"].post("/api/calls", {"invitees": ["bob"]}).json()["callID"]
    r = api["bob"].post("/api/calls", {"invitees": ["alice"], "extendedData": "hi"})
    assert r.status_code == 200
    assert r.json() == {
        "callID": call_id,
        "timeout": 90,
        "errorInvitees": [],
        "merged": True,
        "createTime": r.json()["createTime"],
    }
    assert Call.objects.count() == 1
    info = api["alice"].get(f"/api/calls/{call_id}").json()
    assert {m["userID"]: m["state"] for m in info["callUserList"]} == {"alice": S.ACCEPTED, "bob": S.ACCEPTED}
    assert info["connectTime"] > 0


async def command(comm, cmd: str, cmd_id: int, **data) -> dict:
    """The command's result (events that arrive meanwhile are skipped)."""
    await comm.send_json_to({"type": "cmd", "id": cmd_id, "cmd": cmd, "data": data})
    while (frame := await comm.receive_json_from(timeout=10))["type"] != "result":
        pass
    assert frame["id"] == cmd_id
    return frame


@pytest.mark.django_db(transaction=True)
async def test_group_commands_on_the_websocket(alice, bob, dave):
    await database_sync_to_async(groups.group_save)(group_id="team", name="Team", member_user_ids=["alice", "bob"])
    token = await database_sync_to_async(token_actions.api_token_create)(user=alice)
    outsider = await database_sync_to_async(token_actions.api_token_create)(user=dave)
    a, _ = await connect(token, "a1")
    d, _ = await connect(outsider, "d1")
    got = await command(a, "queryGroups", 1)
    assert got["ok"] and got["data"]["groupList"][0]["members"] == [
        {"userID": "alice", "online": True},
        {"userID": "bob", "online": False},
    ]
    invited = await command(a, "callInvite", 2, invitees=["bob"], groupID="team", mode=1, timeout=0)
    assert invited["ok"], invited
    call_id = invited["data"]["callID"]
    got = await command(a, "queryGroupCalls", 3, groupID="team")
    assert got["ok"] and [c["callID"] for c in got["data"]["callList"]] == [call_id]
    refused = await command(d, "queryGroupCalls", 4, groupID="team")
    assert refused["ok"] is False and refused["error"]["reason"] == "group_not_found"
    bad = await command(d, "queryGroupCalls", 5)
    assert bad["ok"] is False and bad["error"]["reason"] == "invalid_argument"
    await a.disconnect()
    await d.disconnect()
