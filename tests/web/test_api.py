"""Every endpoint and every error of PROTOCOL over HTTP, through Django's test
client and the real middleware, auth and database."""

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from invitations.accounts import token_actions
from invitations.calls import actions
from invitations.models import ApiToken, Call, CallEvent, CallUser
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_passwords")]


class Api:
    """A bearer-token client for one user."""

    def __init__(self, user=None, token: str | None = None) -> None:
        self.client = Client()
        self.headers = {}
        if user is not None:
            token = token or token_actions.api_token_create(user=user)
        if token:
            self.headers["Authorization"] = f"Bearer {token}"

    def post(self, path: str, body=None, raw: str | None = None):
        data = raw if raw is not None else ("" if body is None else json.dumps(body))
        return self.client.post(path, data=data, content_type="application/json", headers=self.headers)

    def get(self, path: str, **params):
        return self.client.get(path, params, headers=self.headers)


def snapshot() -> tuple:
    return (
        list(Call.objects.order_by("pk").values()),
        list(CallUser.objects.order_by("pk").values()),
        list(CallEvent.objects.order_by("pk").values()),
    )


def assert_error(response, status: int, reason: str, code=None) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "reason", "message"}, body
    assert body["error"]["reason"] == reason and body["error"]["code"] == code, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body["error"]


@pytest.fixture
def api(alice, bob, carol, dave):
    return {u.username: Api(u) for u in (alice, bob, carol, dave)}


def new_call(api, caller="alice", invitees=("bob",), **extra) -> str:
    r = api[caller].post("/api/calls", {"invitees": list(invitees), **extra})
    assert r.status_code == 200, r.content
    return r.json()["callID"]


# --- auth ----------------------------------------------------------------------------------------


def test_token_endpoint(alice):
    c = Client()
    r = c.post("/api/auth/token", {"username": "alice", "password": PASSWORD}, content_type="application/json")
    assert r.status_code == 200 and r.json()["userID"] == "alice"
    token = r.json()["token"]
    assert len(token) >= 32 and ApiToken.objects.filter(user=alice).count() == 1
    assert Api(token=token).get("/api/calls").status_code == 200
    assert_error(
        c.post("/api/auth/token", {"username": "alice", "password": "wrong"}, content_type="application/json"),
        401,
        "unauthenticated",
    )
    assert_error(
        c.post("/api/auth/token", {"username": "nobody", "password": "x"}, content_type="application/json"),
        401,
        "unauthenticated",
    )
    assert_error(
        c.post("/api/auth/token", {"username": "alice"}, content_type="application/json"), 400, "invalid_argument"
    )
    assert_error(
        c.post("/api/auth/token", {"username": "alice", "password": 1}, content_type="application/json"),
        400,
        "invalid_argument",
    )
    # revoke the token it was sent with; it no longer works
    assert Api(token=token).post("/api/auth/token/revoke").json() == {"revoked": True}
    assert_error(Api(token=token).get("/api/calls"), 401, "unauthenticated")


def test_unauthenticated(alice, bob):
    anon = Api()
    for method, path in [
        ("get", "/api/calls"),
        ("get", "/api/calls/x"),
        ("post", "/api/calls"),
        ("post", "/api/calls/x/accept"),
        ("get", "/api/users"),
    ]:
        assert_error(getattr(anon, method)(path), 401, "unauthenticated")
    before = snapshot()
    assert_error(anon.post("/api/calls", {"invitees": ["bob"]}), 401, "unauthenticated")
    assert_error(Api(token="not-a-token").post("/api/calls", {"invitees": ["bob"]}), 401, "unauthenticated")
    bad_scheme = Client().post(
        "/api/calls",
        data='{"invitees":["bob"]}',
        content_type="application/json",
        headers={"Authorization": "Basic YWxpY2U6eA=="},
    )
    assert_error(bad_scheme, 401, "unauthenticated")
    alice.is_active = False
    alice.save()
    token = token_actions.api_token_create(user=alice)
    assert_error(Api(token=token).post("/api/calls", {"invitees": ["bob"]}), 401, "unauthenticated")
    assert snapshot() == before


def test_session_auth_and_csrf(alice, bob):
    c = Client(enforce_csrf_checks=True)
    assert c.login(username="alice", password=PASSWORD)
    assert c.get("/api/calls").status_code == 200  # reads need no CSRF token
    before = snapshot()
    r = c.post("/api/calls", data='{"invitees":["bob"]}', content_type="application/json")
    assert_error(r, 403, "csrf_failed")
    c.cookies["csrftoken"] = "a" * 32
    r = c.post(
        "/api/calls", data='{"invitees":["bob"]}', content_type="application/json", headers={"X-CSRFToken": "b" * 32}
    )
    assert_error(r, 403, "csrf_failed")
    assert snapshot() == before
    r = c.post(
        "/api/calls", data='{"invitees":["bob"]}', content_type="application/json", headers={"X-CSRFToken": "a" * 32}
    )
    assert r.status_code == 200, r.content
    assert Call.objects.get(call_id=r.json()["callID"]).caller == alice


# --- endpoints -----------------------------------------------------------------------------------


def test_call_invite_and_info(api, alice, bob, carol):
    r = api["alice"].post(
        "/api/calls",
        {
            "invitees": ["bob", "ghost", "alice"],
            "timeout": 30,
            "mode": 1,
            "extendedData": '{"type":"video"}',
            "enableNotReceivedCheck": True,
            "pushConfig": {"title": "t", "content": "c", "payload": "p"},
        },
    )
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["timeout"] == 30 and body["errorInvitees"] == [
        {"userID": "ghost", "reason": "user_not_found"},
        {"userID": "alice", "reason": "already_in_call_member"},
    ]
    call_id = body["callID"]
    info = api["bob"].get(f"/api/calls/{call_id}").json()
    assert set(info) >= {
        "callID",
        "caller",
        "inviter",
        "mode",
        "state",
        "extendedData",
        "createTime",
        "endTime",
        "seq",
        "callUserList",
    }
    assert (
        info["callID"],
        info["caller"],
        info["inviter"],
        info["mode"],
        info["state"],
        info["endTime"],
        info["seq"],
        info["extendedData"],
    ) == (call_id, "alice", "alice", 1, 1, 0, 1, '{"type":"video"}')
    assert info["createTime"] > 0
    assert [(m["userID"], m["state"], m["extendedData"]) for m in info["callUserList"]] == [
        ("alice", 1, ""),
        ("bob", 0, ""),
    ]
    assert_error(api["carol"].get(f"/api/calls/{call_id}"), 404, "call_not_found", 6000276)
    assert_error(api["alice"].get("/api/calls/no-such-call"), 404, "call_not_found", 6000276)
    # defaults: 90 s, general mode
    r = api["carol"].post("/api/calls", {"invitees": ["dave"]})
    assert r.json()["timeout"] == 90 and api["carol"].get(f"/api/calls/{r.json()['callID']}").json()["mode"] == 0


def test_info_never_shows_overdue_invitee_pending(api, bob):
    call_id = new_call(api)
    CallUser.objects.filter(user=bob).update(deadline=timezone.now() - timedelta(seconds=1))
    info = api["alice"].get(f"/api/calls/{call_id}").json()
    assert [m["state"] for m in info["callUserList"]] == [1, 6] and info["state"] == 2 and info["endTime"] > 0


def test_invite_errors(api, make_user, alice, bob):
    others = [make_user(f"u{i}").username for i in range(10)]
    before = snapshot()
    assert_error(api["alice"].post("/api/calls", {"invitees": others}), 400, "too_many_participants", 6000272)
    assert_error(api["alice"].post("/api/calls", {"invitees": ["ghost"]}), 400, "no_invitee_registered", 6000281)
    assert snapshot() == before
    new_call(api)
    assert_error(api["alice"].post("/api/calls", {"invitees": ["carol"]}), 409, "already_in_call", 6000270)


def test_cancel(api, carol):
    call_id = new_call(api, invitees=["bob", "carol"])
    assert_error(api["bob"].post(f"/api/calls/{call_id}/cancel"), 403, "not_caller", 6000273)
    assert_error(api["dave"].post(f"/api/calls/{call_id}/cancel"), 404, "call_not_found", 6000276)
    r = api["alice"].post(f"/api/calls/{call_id}/cancel", {"invitees": ["bob", "ghost"], "extendedData": "x"})
    assert r.status_code == 200
    assert r.json() == {"callID": call_id, "errorInvitees": [{"userID": "ghost", "reason": "user_not_found"}]}
    r = api["alice"].post(f"/api/calls/{call_id}/cancel")  # every pending one
    assert r.json() == {"callID": call_id, "errorInvitees": []}
    assert_error(api["alice"].post(f"/api/calls/{call_id}/cancel"), 409, "call_ended", 6000276)
    call_id = new_call(api, invitees=["bob", "carol"])
    api["bob"].post(f"/api/calls/{call_id}/accept")
    assert_error(api["alice"].post(f"/api/calls/{call_id}/cancel"), 409, "already_accepted", 6000271)


def test_accept_and_reject(api):
    call_id = new_call(api, invitees=["bob", "carol", "dave"])
    assert_error(api["alice"].post(f"/api/calls/{call_id}/accept"), 403, "not_invited", 6000274)
    assert_error(api["alice"].post(f"/api/calls/{call_id}/reject"), 403, "not_invited", 6000274)
    r = api["bob"].post(f"/api/calls/{call_id}/accept", {"extendedData": "ok"})
    assert r.status_code == 200 and r.json() == {"callID": call_id}
    assert_error(api["bob"].post(f"/api/calls/{call_id}/accept"), 409, "invalid_state")
    assert api["carol"].post(f"/api/calls/{call_id}/reject", {"reason": "busy"}).json() == {"callID": call_id}
    assert_error(api["dave"].post(f"/api/calls/{call_id}/reject", {"reason": "sleepy"}), 400, "invalid_argument")
    assert api["dave"].post(f"/api/calls/{call_id}/reject").status_code == 200
    members = {m["userID"]: m for m in api["alice"].get(f"/api/calls/{call_id}").json()["callUserList"]}
    assert (members["bob"]["state"], members["bob"]["extendedData"]) == (1, "ok")
    assert (members["carol"]["state"], members["carol"]["reason"]) == (2, "busy")
    assert (members["dave"]["state"], members["dave"]["reason"]) == (2, "declined")
    assert_error(api["dave"].post(f"/api/calls/{call_id}/accept"), 409, "call_ended", 6000276)


def test_advanced_endpoints(api):
    call_id = new_call(api, invitees=["bob"], mode=1)
    assert_error(api["bob"].post(f"/api/calls/{call_id}/invite", {"invitees": ["carol"]}), 409, "invalid_state")
    r = api["alice"].post(f"/api/calls/{call_id}/invite", {"invitees": ["carol", "bob"], "timeout": 20})
    assert r.status_code == 200 and r.json() == {
        "callID": call_id,
        "timeout": 20,
        "errorInvitees": [{"userID": "bob", "reason": "already_in_call_member"}],
    }
    r = api["dave"].post(f"/api/calls/{call_id}/join", {"extendedData": "hi"})
    assert r.status_code == 200
    body = r.json()
    assert set(body) >= {"callID", "createTime", "joinTime", "callUserList"} and body["callID"] == call_id
    assert [m["userID"] for m in body["callUserList"]] == ["alice", "bob", "carol", "dave"]
    assert_error(api["dave"].post(f"/api/calls/{call_id}/join"), 409, "invalid_state")  # same (empty) device
    r = api["dave"].post(f"/api/calls/{call_id}/quit")
    assert r.status_code == 200 and set(r.json()) >= {"callID", "createTime", "acceptTime", "quitTime"}
    assert_error(api["dave"].post(f"/api/calls/{call_id}/quit"), 409, "invalid_state")
    assert_error(api["dave"].post(f"/api/calls/{call_id}/end"), 409, "invalid_state")
    r = api["alice"].post(f"/api/calls/{call_id}/end", {"extendedData": "bye", "pushConfig": {"title": "x"}})
    assert r.status_code == 200 and set(r.json()) >= {"callID", "createTime", "acceptTime", "endTime"}
    for path in ("invite", "join", "quit", "end"):
        body = {"invitees": ["dave"]} if path == "invite" else {}
        assert_error(api["alice"].post(f"/api/calls/{call_id}/{path}", body), 409, "call_ended", 6000276)


def test_advanced_endpoints_on_general_call(api):
    call_id = new_call(api, invitees=["bob", "carol"])
    before = snapshot()
    for path in ("invite", "quit", "end"):
        body = {"invitees": ["dave"]} if path == "invite" else {}
        assert_error(api["alice"].post(f"/api/calls/{call_id}/{path}", body), 409, "not_advanced_mode", 6000286)
    assert_error(api["bob"].post(f"/api/calls/{call_id}/join"), 409, "not_advanced_mode", 6000286)
    assert snapshot() == before


def test_call_list_paging(api, alice, bob):
    ids = []
    for _ in range(3):
        ids.append(new_call(api))
        api["alice"].post(f"/api/calls/{ids[-1]}/cancel")
    first = api["bob"].get("/api/calls", count=2).json()
    assert [c["callID"] for c in first["callList"]] == [ids[2], ids[1]] and first["nextFlag"] != 0
    assert first["callList"][0]["callUserList"][1] == {
        "userID": "bob",
        "state": 3,
        "extendedData": "",
        "reason": "caller_cancel",
    }
    second = api["bob"].get("/api/calls", count=2, nextFlag=first["nextFlag"]).json()
    assert [c["callID"] for c in second["callList"]] == [ids[0]] and second["nextFlag"] == 0
    assert api["bob"].get("/api/calls").json()["nextFlag"] == 0  # default count 20, nextFlag 0
    assert api["carol"].get("/api/calls").json() == {"callList": [], "nextFlag": 0}


def test_call_list_count_bounds(api, alice, bob):
    now = timezone.now()
    calls = Call.objects.bulk_create(
        [
            Call(call_id=f"bulk{i}", caller=alice, mode=0, state=2, created_at=now, ended_at=now, seq=1)
            for i in range(105)
        ]
    )
    CallUser.objects.bulk_create([CallUser(call=c, user=bob, state=2, inviter=alice) for c in calls])
    page = api["bob"].get("/api/calls", count=1000).json()
    assert len(page["callList"]) == 100 and page["nextFlag"] != 0
    rest = api["bob"].get("/api/calls", count=100, nextFlag=page["nextFlag"]).json()
    assert len(rest["callList"]) == 5 and rest["nextFlag"] == 0
    for bad in ({"count": 0}, {"count": -1}, {"count": "many"}, {"nextFlag": -1}, {"nextFlag": "x"}):
        assert_error(api["bob"].get("/api/calls", **bad), 400, "invalid_argument")


# --- bad input -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        "{",
        "[]",
        "null",
        '"bob"',
        '{"invitees": ["bob"],}',
    ],
)
def test_malformed_json(api, body):
    before = snapshot()
    assert_error(api["alice"].post("/api/calls", raw=body), 400, "invalid_argument")
    assert snapshot() == before


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"invitees": "bob"},
        {"invitees": []},
        {"invitees": [1]},
        {"invitees": [""]},
        {"invitees": ["bob"], "timeout": -1},
        {"invitees": ["bob"], "timeout": 601},
        {"invitees": ["bob"], "timeout": "30"},
        {"invitees": ["bob"], "timeout": 1.5},
        {"invitees": ["bob"], "mode": 2},
        {"invitees": ["bob"], "mode": "1"},
        {"invitees": ["bob"], "enableNotReceivedCheck": "yes"},
        {"invitees": ["bob"], "extendedData": 5},
        {"invitees": ["bob"], "extendedData": "é" * 1025},  # 2050 bytes in UTF-8
        {"invitees": ["bob"], "pushConfig": {"title": "x" * 1025}},
        {"invitees": ["bob"], "pushConfig": {"payload": "€" * 342}},  # 1026 bytes
        {"invitees": ["bob"], "pushConfig": {"sound": "ding"}},
        {"invitees": ["bob"], "pushConfig": "x"},
        {"invitees": ["bob"], "invitee": ["carol"]},
        {"invitee": ["bob"]},
    ],
)
def test_invalid_invite_bodies(api, body):
    before = snapshot()
    assert_error(api["alice"].post("/api/calls", body), 400, "invalid_argument")
    assert snapshot() == before


def test_limits_are_inclusive(api):
    r = api["alice"].post(
        "/api/calls",
        {
            "invitees": ["bob"],
            "timeout": 600,
            "extendedData": "é" * 1024,
            "pushConfig": {"title": "€" * 341, "content": "x" * 1024},
        },
    )
    assert r.status_code == 200, r.content
    assert api["carol"].post("/api/calls", {"invitees": ["dave"], "timeout": 1}).json()["timeout"] == 1


def test_invalid_bodies_on_call_endpoints(api):
    call_id = new_call(api, invitees=["bob", "carol"], mode=1)
    before = snapshot()
    cases = [
        ("cancel", {"invitees": "bob"}),
        ("cancel", {"invitees": []}),
        ("cancel", {"foo": 1}),
        ("accept", {"extendedData": "x" * 2049}),
        ("accept", {"reason": "busy"}),
        ("accept", []),
        ("reject", {"reason": 1}),
        ("reject", {"extendedData": None}),
        ("invite", {}),
        ("invite", {"invitees": ["dave"], "timeout": -1}),
        ("invite", {"invitees": ["dave"], "mode": 1}),
        ("join", {"extendedData": 1}),
        ("quit", {"pushConfig": {"title": 1}}),
        ("end", {"callID": call_id}),
    ]
    for path, body in cases:
        user = "bob" if path in ("accept", "reject") else "alice"
        assert_error(api[user].post(f"/api/calls/{call_id}/{path}", body), 400, "invalid_argument")
    assert snapshot() == before


def test_not_found_and_method_not_allowed(api):
    assert_error(api["alice"].get("/api/nope"), 404, "not_found")
    assert_error(Api().get("/api/nope"), 404, "not_found")
    assert_error(api["alice"].post("/api/calls/x/dance"), 404, "not_found")
    assert_error(api["alice"].get("/api/calls/x/accept"), 405, "method_not_allowed")
    assert_error(api["alice"].client.delete("/api/calls", headers=api["alice"].headers), 405, "method_not_allowed")
    assert_error(api["alice"].client.put("/api/calls/x", headers=api["alice"].headers), 405, "method_not_allowed")
    assert_error(Client().get("/api/auth/token"), 405, "method_not_allowed")


def test_openapi_and_users(api):
    r = Client().get("/api/openapi.json")
    assert r.status_code == 200
    paths = r.json()["paths"]
    for path in (
        "/api/calls",
        "/api/calls/{call_id}",
        "/api/calls/{call_id}/cancel",
        "/api/calls/{call_id}/accept",
        "/api/calls/{call_id}/reject",
        "/api/calls/{call_id}/invite",
        "/api/calls/{call_id}/join",
        "/api/calls/{call_id}/quit",
        "/api/calls/{call_id}/end",
        "/api/auth/token",
    ):
        assert path in paths, path
    users = api["alice"].get("/api/users").json()["users"]
    assert [u["userID"] for u in users] == ["bob", "carol", "dave"]
    assert_error(api["alice"].get("/api/users", count=0), 400, "invalid_argument")


def test_odd_requests_get_error_objects(api):
    before = snapshot()
    huge = json.dumps({"invitees": ["bob"], "extendedData": "x" * (3 * 1024 * 1024)})
    assert_error(api["alice"].post("/api/calls", raw=huge), 400, "invalid_argument")
    r = api["alice"].client.post(
        "/api/calls", data=b'{"invitees": ["\xff"]}', content_type="application/json", headers=api["alice"].headers
    )
    assert_error(r, 400, "invalid_argument")
    r = api["alice"].client.post(
        "/api/calls",
        data="invitees=bob",
        content_type="application/x-www-form-urlencoded",
        headers=api["alice"].headers,
    )
    assert_error(r, 400, "invalid_argument")
    assert_error(api["alice"].get("/api/calls/" + "x" * 300), 404, "call_not_found", 6000276)
    assert_error(api["alice"].post("/api/calls/%00/accept"), 404, "call_not_found", 6000276)
    assert snapshot() == before


@pytest.mark.parametrize(
    "body",
    [
        {"invitees": ["bo\u0000b"]},
        {"invitees": ["bob"], "extendedData": "a\u0000"},
        {"invitees": ["bob"], "pushConfig": {"title": "\u0000"}},
    ],
)
def test_nul_characters_refused(api, body):
    before = snapshot()
    assert_error(api["alice"].post("/api/calls", body), 400, "invalid_argument")
    assert snapshot() == before


def test_nul_in_path_query_and_login(api):
    assert_error(api["alice"].get("/api/calls/a%00b"), 404, "call_not_found", 6000276)
    assert_error(api["alice"].post("/api/calls/a%00b/cancel"), 404, "call_not_found", 6000276)
    assert_error(api["alice"].get("/api/users", search="a\u0000"), 400, "invalid_argument")
    r = Client().post("/api/auth/token", {"username": "a\u0000", "password": "x"}, content_type="application/json")
    assert_error(r, 400, "invalid_argument")


def test_next_flag_does_not_tell_the_call_volume(api, alice, bob, carol):
    """nextFlag is opaque: not the call id, and the flags of
    consecutive pages say nothing of how many calls others made in between."""
    now = timezone.now()
    mine = []
    for i in range(12):
        others = Call.objects.bulk_create(
            [
                Call(call_id=f"other{i}-{j}", caller=carol, mode=0, state=2, created_at=now, ended_at=now, seq=1)
                for j in range(i * 3)
            ]
        )  # a growing number of other people's calls between bob's
        CallUser.objects.bulk_create([CallUser(call=c, user=carol, state=2) for c in others])
        call = Call.objects.create(
            call_id=f"mine{i}", caller=alice, mode=0, state=2, created_at=now, ended_at=now, seq=1
        )
        CallUser.objects.create(call=call, user=bob, state=2, inviter=alice)
        mine.append(call)
    flags, seen, flag = [], [], 0
    while True:
        page = api["bob"].get("/api/calls", count=1, nextFlag=flag).json()
        seen += [c["callID"] for c in page["callList"]]
        flag = page["nextFlag"]
        if not flag:
            break
        assert isinstance(flag, int) and 0 < flag < 2**53  # a number a JavaScript client keeps exactly
        flags.append(flag)
    assert seen == [c.call_id for c in reversed(mine)]  # every call once, newest first
    pks = {c.pk for c in mine}
    assert not pks & set(flags), "a nextFlag is a call id"
    gaps = [a - b for a, b in zip(flags, flags[1:])]
    assert not (all(g > 0 for g in gaps) or all(g < 0 for g in gaps)), f"flags are ordered: {flags}"


# --- the list's cost and freshness ------------------------------------------------------------------


def test_list_is_two_statements_and_expires_what_it_shows_overdue(api, alice, bob, carol):
    """A page is the token check and one statement, however many calls and members it shows;
    a page showing an overdue invitee expires it first, and shows it timed out."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(3):
        actions.call_cancel(user=alice, call_id=new_call(api, invitees=["bob", "carol"]))
    waiting = new_call(api, invitees=["bob", "carol"])
    with CaptureQueriesContext(connection) as queries:
        listed = api["alice"].get("/api/calls", count=20).json()["callList"]
    assert len(listed) == 4 and len(queries.captured_queries) == 2, [q["sql"] for q in queries.captured_queries]
    assert [(m["userID"], m["state"]) for m in listed[0]["callUserList"]] == [("alice", 1), ("bob", 0), ("carol", 0)]
    CallUser.objects.filter(call__call_id=waiting, user=bob).update(deadline=timezone.now() - timedelta(seconds=1))
    listed = api["alice"].get("/api/calls", count=20).json()["callList"]
    assert [(m["userID"], m["state"]) for m in listed[0]["callUserList"]] == [("alice", 1), ("bob", 6), ("carol", 0)]
    assert CallUser.objects.get(call__call_id=waiting, user=bob).state == 6
    assert [m["state"] for m in api["carol"].get(f"/api/calls/{waiting}").json()["callUserList"]] == [1, 6, 0]


def test_list_matches_call_info_for_every_call(api, alice, bob, carol, dave):
    """Each CallInfo of the one-statement page is the one GET /api/calls/{callID} answers
    (its own statements), groups, inviters and reasons included."""
    from invitations.models import Group

    plain = new_call(api, invitees=["dave"])
    actions.call_cancel(user=alice, call_id=plain)
    group = Group.objects.create(group_id="team", name="Team")
    group.members.add(alice, bob, carol, dave)
    grouped = api["alice"].post("/api/calls", {"invitees": ["bob"], "groupID": "team", "mode": 1}).json()["callID"]
    api["bob"].post(f"/api/calls/{grouped}/accept")
    r = api["bob"].post(f"/api/calls/{grouped}/invite", {"invitees": ["carol"]})
    assert r.status_code == 200, r.content
    api["carol"].post(f"/api/calls/{grouped}/reject", {"extendedData": "busy"})
    for who in ("alice", "carol"):
        page = api[who].get("/api/calls").json()["callList"]
        assert page, who
        for info in page:
            assert info == api[who].get(f"/api/calls/{info['callID']}").json(), (who, info)
    invited = api["carol"].get("/api/calls").json()["callList"][0]
    assert invited["inviter"] == "bob" and invited["groupID"] == "team"


def test_deactivated_user_and_revoked_token_stop_at_once(api, alice):
    """No cache between the database and a bearer token: the next request after a revoke
    (by anyone, in any process) or a deactivation is refused."""
    token = token_actions.api_token_create(user=alice)
    client = Api(token=token)
    assert client.get("/api/calls").status_code == 200
    ApiToken.objects.filter(user=alice).update(revoked=True)  # as another process would
    assert_error(client.get("/api/calls"), 401, "unauthenticated")
    token = token_actions.api_token_create(user=alice)
    client = Api(token=token)
    assert client.get("/api/calls").status_code == 200
    type(alice).objects.filter(pk=alice.pk).update(is_active=False)
    assert_error(client.get("/api/calls"), 401, "unauthenticated")
