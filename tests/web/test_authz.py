"""Authorization matrix: every call endpoint (HTTP) and WebSocket command x
anonymous, non-member, invitee, caller, caller's other device, staff, and the
users of two other tenants with the caller's and the invitee's userIDs (the
call placed in each of three tenants: the site's own accounts and two apps).
Only the allowed cells succeed; a refused cell changes nothing; non-members
and other tenants' users get call_not_found and learn nothing. Plus CSRF, the WebSocket Origin check,
hashed and revocable tokens, unguessable callIDs, admin for staff only."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from callsite.asgi import application
from invitations.accounts import token_actions
from invitations.calls import actions
from invitations.calls.states import CallMode
from invitations.models import ApiToken, Call
from tests.apps_helpers import make_app_user, mint_app_token, new_app
from tests.calls.test_state_machine import db_snapshot
from tests.conftest import PASSWORD

OK = "ok"
# (mode, operation) -> role -> OK or the refusal's reason
G, A = CallMode.GENERAL, CallMode.ADVANCED
NF = "call_not_found"
MATRIX: dict[tuple[int, str], dict[str, str]] = {
    (G, "info"): {"nonmember": NF, "invitee": OK, "caller": OK, "other_device": OK, "staff": NF},
    (G, "cancel"): {"nonmember": NF, "invitee": "not_caller", "caller": OK, "other_device": OK, "staff": NF},
    (G, "accept"): {
        "nonmember": NF,
        "invitee": OK,
        "caller": "not_invited",
        "other_device": "not_invited",
        "staff": NF,
    },
    (G, "reject"): {
        "nonmember": NF,
        "invitee": OK,
        "caller": "not_invited",
        "other_device": "not_invited",
        "staff": NF,
    },
    (G, "invite"): {
        "nonmember": NF,
        "invitee": "not_advanced_mode",
        "caller": "not_advanced_mode",
        "other_device": "not_advanced_mode",
        "staff": NF,
    },
    (G, "join"): {
        "nonmember": NF,
        "invitee": "not_advanced_mode",
        "caller": "not_advanced_mode",
        "other_device": "not_advanced_mode",
        "staff": NF,
    },
    (G, "quit"): {
        "nonmember": NF,
        "invitee": "not_advanced_mode",
        "caller": "not_advanced_mode",
        "other_device": "not_advanced_mode",
        "staff": NF,
    },
    (G, "end"): {
        "nonmember": NF,
        "invitee": "not_advanced_mode",
        "caller": "not_advanced_mode",
        "other_device": "not_advanced_mode",
        "staff": NF,
    },
    (A, "info"): {"nonmember": NF, "invitee": OK, "caller": OK, "other_device": OK, "staff": NF},
    (A, "cancel"): {"nonmember": NF, "invitee": "not_caller", "caller": OK, "other_device": OK, "staff": NF},
    (A, "accept"): {
        "nonmember": NF,
        "invitee": OK,
        "caller": "not_invited",
        "other_device": "not_invited",
        "staff": NF,
    },
    (A, "reject"): {
        "nonmember": NF,
        "invitee": OK,
        "caller": "not_invited",
        "other_device": "not_invited",
        "staff": NF,
    },
    (A, "invite"): {"nonmember": NF, "invitee": "invalid_state", "caller": OK, "other_device": OK, "staff": NF},
    # PROTOCOL: anyone who knows an advanced call's callID may join it
    (A, "join"): {"nonmember": OK, "invitee": OK, "caller": "invalid_state", "other_device": OK, "staff": OK},
    (A, "quit"): {"nonmember": NF, "invitee": "invalid_state", "caller": OK, "other_device": OK, "staff": NF},
    (A, "end"): {"nonmember": NF, "invitee": "invalid_state", "caller": OK, "other_device": OK, "staff": NF},
}
WS_NAMES = {
    "info": "queryCall",
    "cancel": "callCancel",
    "accept": "callAccept",
    "reject": "callReject",
    "invite": "callingInvite",
    "join": "callJoin",
    "quit": "callQuit",
    "end": "callEnd",
}
ROLE_USER = {"nonmember": "dave", "invitee": "bob", "caller": "alice", "other_device": "alice", "staff": "root"}
NAMES = ("alice", "bob", "carol", "dave", "erin")
# The same userIDs in three tenants (PROTOCOL "Apps"): the site's own accounts and two apps.
# Every cell of the matrix runs with the call in each tenant, and the users of the other two
# tenants with the caller's and the invitee's userIDs try every operation: always refused.
TENANTS = ("site", "app1", "app2")
STRANGER_ROLES = {"stranger_caller": "alice", "stranger_invitee": "bob"}


def _body(operation: str) -> dict:
    return {"invitees": ["erin"]} if operation == "invite" else {}


@pytest.fixture
def people(make_user):
    users = {n: make_user(n) for n in NAMES}
    users["root"] = make_user("root", is_staff=True, is_superuser=True)
    return users


@pytest.fixture
def tenants(people):
    """tenant -> (users by userID, tokens by userID); the staff account is the site's."""
    site_tokens = {n: token_actions.api_token_create(user=u) for n, u in people.items()}
    found = {"site": (people, site_tokens)}
    for name in TENANTS[1:]:
        app = new_app(name)
        found[name] = (
            {n: make_app_user(app, n) for n in NAMES},
            {n: mint_app_token(app, n) for n in NAMES},
        )
    return found


def _cells(tenant: str):
    """(mode, operation, role, the acting tenant, userID, device, expected) of one call tenant."""
    for (mode, operation), row in MATRIX.items():
        for role, expected in row.items():
            acting = "site" if role == "staff" else tenant
            if acting != tenant:
                expected = NF  # the site's staff reaches no app's call
            device = "alice-2" if role == "other_device" else f"{ROLE_USER[role]}-1"
            yield mode, operation, role, acting, ROLE_USER[role], device, expected
        for other in TENANTS:
            if other != tenant:
                for role, name in STRANGER_ROLES.items():
                    yield mode, operation, f"{role} of {other}", other, name, f"{name}-1", NF


def _new_call(users, mode: int) -> str:
    # the caller's "first device" placed the call
    return actions.call_invite(user=users["alice"], device_id="alice-1", invitees=["bob", "carol"], mode=mode)["callID"]


def _cleanup(people) -> None:
    for call in Call.objects.filter(state=1):
        actions.call_end_by_operator(operator=people["root"], call_id=call.call_id)


@pytest.mark.django_db
@pytest.mark.parametrize("tenant", TENANTS)
def test_http_matrix(people, tenants, tenant):
    users = tenants[tenant][0]
    http = Client()
    cells = 0
    for mode, operation, role, acting, name, _, expected in _cells(tenant):
        call_id = _new_call(users, mode)
        path = f"/api/calls/{call_id}" + ("" if operation == "info" else f"/{operation}")
        auth = {"HTTP_AUTHORIZATION": f"Bearer {tenants[acting][1][name]}"}
        if (mode, operation, role) == (A, "join", "caller"):
            expected = OK  # HTTP has no deviceID: the call moves from device alice-1 to ""
        before = db_snapshot()
        if operation == "info":
            response = http.get(path, **auth)
        else:
            # callJoin from "another device": the HTTP API has no device, the service default is ""
            response = http.post(path, _body(operation), content_type="application/json", **auth)
        got = OK if response.status_code == 200 else response.json()["error"]["reason"]
        assert got == expected, f"{role} {operation} mode {mode}: {response.status_code} {response.content!r}"
        if got != OK:
            assert db_snapshot() == before, f"refused {role} {operation} changed state"
            if got == NF:
                assert response.status_code == 404 and response.json()["error"]["code"] == 6000276
                assert call_id not in response.content.decode()
        # anonymous: always unauthenticated, nothing changes
        before = db_snapshot()
        anon = (
            http.get(path)
            if operation == "info"
            else http.post(path, _body(operation), content_type="application/json")
        )
        assert anon.status_code == 401 and anon.json()["error"]["reason"] == "unauthenticated"
        assert db_snapshot() == before
        _cleanup(people)
        cells += 2
    # the list: non-members, and the users of other tenants with the members' userIDs, do not see the call
    call_id = _new_call(users, G)
    seers = [(tenant, "alice", True), (tenant, "bob", True), (tenant, "dave", False), ("site", "root", False)]
    seers += [(other, name, False) for other in TENANTS if other != tenant for name in ("alice", "bob")]
    for acting, name, sees in seers:
        listing = http.get("/api/calls", HTTP_AUTHORIZATION=f"Bearer {tenants[acting][1][name]}").json()
        assert (call_id in [c["callID"] for c in listing["callList"]]) == sees, (acting, name)
    assert http.get("/api/calls").status_code == 401
    assert http.get("/api/users").status_code == 401
    print(f"\nHTTP authorization matrix, calls of {tenant}: {cells} cells")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("tenant", TENANTS)
async def test_websocket_matrix(people, tenants, tenant):
    users = tenants[tenant][0]
    cells = 0
    for mode, operation, role, acting, name, device, expected in _cells(tenant):
        call_id = await database_sync_to_async(_new_call)(users, mode)
        ws = WebsocketCommunicator(
            application,
            f"/ws/calls/?deviceID={device}",
            headers=[(b"authorization", f"Bearer {tenants[acting][1][name]}".encode())],
        )
        connected, _ = await ws.connect()
        assert connected
        assert (await ws.receive_json_from(5))["type"] == "hello"
        before = await database_sync_to_async(db_snapshot)()
        await ws.send_json_to(
            {"type": "cmd", "id": 1, "cmd": WS_NAMES[operation], "data": dict(_body(operation), callID=call_id)}
        )
        while True:
            frame = await ws.receive_json_from(10)
            if frame["type"] == "result":
                break
        got = OK if frame["ok"] else frame["error"]["reason"]
        assert got == expected, f"ws {role} {operation} mode {mode}: {frame}"
        if not frame["ok"]:
            assert await database_sync_to_async(db_snapshot)() == before
        await ws.disconnect()
        await database_sync_to_async(_cleanup)(people)
        cells += 1
    # anonymous sockets are closed with 4401
    ws = WebsocketCommunicator(application, "/ws/calls/")
    await ws.connect()
    assert (await ws.receive_output(5)) == {"type": "websocket.close", "code": 4401}
    print(f"\nWebSocket authorization matrix, calls of {tenant}: {cells + 1} cells")


@pytest.mark.django_db
def test_csrf_enforced_for_session_writes(people):
    browser = Client(enforce_csrf_checks=True)
    assert browser.login(username="alice", password=PASSWORD)
    before = db_snapshot()
    response = browser.post("/api/calls", {"invitees": ["bob"]}, content_type="application/json")
    assert response.status_code == 403 and response.json()["error"]["reason"] == "csrf_failed"
    assert db_snapshot() == before
    browser.get("/")  # sets the csrftoken cookie
    token = browser.cookies["csrftoken"].value
    response = browser.post(
        "/api/calls", {"invitees": ["bob"]}, content_type="application/json", HTTP_X_CSRFTOKEN=token
    )
    assert response.status_code == 200, response.content
    # reads need no token
    assert browser.get("/api/calls").status_code == 200


async def _ws_with_cookie(client: Client, origin: bytes | None, host: bytes = b"127.0.0.1:8000") -> dict:
    headers = [(b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()), (b"host", host)]
    if origin is not None:
        headers.append((b"origin", origin))
    ws = WebsocketCommunicator(application, "/ws/calls/", headers=headers)
    await ws.connect()
    frame = await ws.receive_output(5)
    await ws.disconnect()
    return frame


@pytest.mark.django_db(transaction=True)
async def test_websocket_origin_check(people):
    browser = Client()
    assert await database_sync_to_async(browser.login)(username="alice", password=PASSWORD)
    ours = await _ws_with_cookie(browser, b"http://127.0.0.1:8000")
    assert json.loads(ours["text"])["type"] == "hello"
    for origin in (b"https://evil.example", b"null", None):
        frame = await _ws_with_cookie(browser, origin)
        assert frame == {"type": "websocket.close", "code": 4401}, origin


@pytest.mark.django_db(transaction=True)
async def test_websocket_origin_scheme_host_and_port(people, settings):
    """The Origin must be the page's own origin (scheme, host
    and port of the request) or one of CSRF_TRUSTED_ORIGINS, not just a known host."""
    settings.CSRF_TRUSTED_ORIGINS = ["https://calls.example.com"]
    settings.ALLOWED_HOSTS = ["127.0.0.1", "localhost", "calls.example.com"]
    browser = Client()
    assert await database_sync_to_async(browser.login)(username="alice", password=PASSWORD)
    accepted = {b"http://127.0.0.1:8000", b"https://calls.example.com"}
    refused = {
        b"https://127.0.0.1:8000",
        b"http://127.0.0.1:9999",
        b"http://127.0.0.1",
        b"http://localhost:8000",
        b"ws://127.0.0.1:8000",
        b"http://calls.example.com",
        b"https://calls.example.com:8443",
        b"http://127.0.0.1:8000.evil.example",
        b"http://evil.example@127.0.0.1:8000",
    }
    for origin in accepted | refused:
        frame = await _ws_with_cookie(browser, origin)
        opened = "text" in frame and json.loads(frame["text"])["type"] == "hello"
        assert opened == (origin in accepted), (origin, frame)


@pytest.mark.django_db
def test_tokens_hashed_and_revocable(people):
    http = Client()
    response = http.post(
        "/api/auth/token", {"username": "alice", "password": PASSWORD}, content_type="application/json"
    )
    raw = response.json()["token"]
    stored = ApiToken.objects.get(user=people["alice"])
    assert stored.key_hash == hashlib.sha256(raw.encode()).hexdigest() and raw not in stored.key_hash
    auth = {"HTTP_AUTHORIZATION": f"Bearer {raw}"}
    assert http.get("/api/calls", **auth).status_code == 200
    assert http.post("/api/auth/token/revoke", content_type="application/json", **auth).json() == {"revoked": True}
    assert http.get("/api/calls", **auth).status_code == 401
    assert http.get("/api/calls", HTTP_AUTHORIZATION="Bearer " + "x" * 43).status_code == 401


@pytest.mark.django_db
def test_call_ids_unguessable(people):
    ids = set()
    for _ in range(100):
        call_id = actions.call_invite(user=people["alice"], invitees=["bob"])["callID"]
        actions.call_cancel(user=people["alice"], call_id=call_id)
        raw = base64.urlsafe_b64decode(call_id + "=" * (-len(call_id) % 4))
        assert len(raw) * 8 >= 96
        ids.add(call_id)
    assert len(ids) == 100


@pytest.mark.django_db
def test_admin_only_for_staff(people):
    browser = Client()
    assert browser.get("/admin/").status_code == 302
    browser.login(username="bob", password=PASSWORD)
    assert browser.get("/admin/").status_code == 302  # not staff: back to the admin login
    browser.login(username="root", password=PASSWORD)
    assert browser.get("/admin/").status_code == 200


@pytest.mark.django_db(transaction=True)
async def test_tokens_expire(people, settings):
    """A token works for API_TOKEN_LIFETIME_SECONDS, then is
    refused over HTTP and WebSocket alike; a lifetime of 0 never expires."""
    from datetime import timedelta

    from django.utils import timezone

    settings.API_TOKEN_LIFETIME_SECONDS = 3600
    raw = await database_sync_to_async(token_actions.api_token_create)(user=people["alice"])
    token = await database_sync_to_async(ApiToken.objects.get)(user=people["alice"])
    lifetime = (token.expires_at - token.created_at).total_seconds()
    assert 3599 <= lifetime <= 3601, lifetime

    def http_status() -> int:
        return Client().get("/api/calls", HTTP_AUTHORIZATION=f"Bearer {raw}").status_code

    async def ws_first_frame() -> dict:
        ws = WebsocketCommunicator(application, "/ws/calls/", headers=[(b"authorization", f"Bearer {raw}".encode())])
        await ws.connect()
        frame = await ws.receive_output(5)
        await ws.disconnect()
        return frame

    assert await database_sync_to_async(http_status)() == 200
    assert json.loads((await ws_first_frame())["text"])["type"] == "hello"
    await database_sync_to_async(ApiToken.objects.filter(pk=token.pk).update)(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert await database_sync_to_async(http_status)() == 401
    assert await ws_first_frame() == {"type": "websocket.close", "code": 4401}

    settings.API_TOKEN_LIFETIME_SECONDS = 0
    forever = await database_sync_to_async(token_actions.api_token_create)(user=people["bob"])
    assert await database_sync_to_async(ApiToken.objects.get)(user=people["bob"], expires_at=None)
    assert (
        await database_sync_to_async(
            lambda: Client().get("/api/calls", HTTP_AUTHORIZATION=f"Bearer {forever}").status_code
        )()
        == 200
    )


@pytest.mark.django_db
def test_admin_lists_and_revokes_tokens(people):
    """Tokens are listed in the admin (never the token or its hash); staff
    with invitations.revoke_apitoken revoke them, other staff only look."""
    from django.contrib.auth.models import Permission

    raw = token_actions.api_token_create(user=people["alice"])
    token = ApiToken.objects.get(user=people["alice"])
    view = Permission.objects.get(codename="view_apitoken")
    revoke = Permission.objects.get(codename="revoke_apitoken")
    looker = people["root"].__class__.objects.create_user("looker", password=PASSWORD, is_staff=True)
    looker.user_permissions.add(view)
    keeper = people["root"].__class__.objects.create_user("keeper", password=PASSWORD, is_staff=True)
    keeper.user_permissions.add(view, revoke)
    action = {"action": "revoke_selected_tokens", "_selected_action": [token.pk]}
    browser = Client()
    browser.force_login(looker, backend="django.contrib.auth.backends.ModelBackend")
    listing = browser.get("/admin/invitations/apitoken/")
    assert listing.status_code == 200 and "alice" in listing.content.decode()
    assert raw not in listing.content.decode() and token.key_hash not in listing.content.decode()
    browser.post("/admin/invitations/apitoken/", action)
    assert not ApiToken.objects.get(pk=token.pk).revoked, "staff without the permission revoked a token"
    browser.force_login(keeper, backend="django.contrib.auth.backends.ModelBackend")
    browser.post("/admin/invitations/apitoken/", action)
    assert ApiToken.objects.get(pk=token.pk).revoked
    assert Client().get("/api/calls", HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 401
