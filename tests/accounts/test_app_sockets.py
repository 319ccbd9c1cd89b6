"""The WebSocket for an app's page (PROTOCOL "Apps"): a socket from a registered app
origin without credentials waits for `{"type": "auth", "token"}` (then hello, as
usual); anything else first, or nothing within CALL_SOCKET_AUTH_SECONDS, closes it
with 4401; an app's origin goes with that app's token only (else 4403); cookies
from an app's origin are not credentials."""

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from callsite.asgi import application
from invitations.accounts import token_actions
from invitations.calls import actions
from tests.apps_helpers import mint_app_token, new_app
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)
ORIGIN_A, ORIGIN_B = "http://127.0.0.1:9000", "https://b.example"
CLOSED_4401 = {"type": "websocket.close", "code": 4401}
CLOSED_4403 = {"type": "websocket.close", "code": 4403}


@pytest.fixture
def apps(db):
    return new_app("A", origins=[ORIGIN_A]), new_app("B", origins=[ORIGIN_B])


def socket(origin: str | None = None, *, token: str | None = None, cookie: str | None = None, path: str = "/ws/calls/"):
    headers = [(b"host", b"127.0.0.1:8000")]
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    if token is not None:
        headers.append((b"authorization", f"Bearer {token}".encode()))
    if cookie is not None:
        headers.append((b"cookie", f"sessionid={cookie}".encode()))
    return WebsocketCommunicator(application, path, headers=headers)


async def opened(ws: WebsocketCommunicator) -> WebsocketCommunicator:
    connected, _ = await ws.connect()
    assert connected
    return ws


async def test_an_app_page_authenticates_with_its_first_frame(apps, app_user):
    app_a, _ = apps
    bob = await database_sync_to_async(app_user)(app_a, "bob", "Bob B")
    alice = await database_sync_to_async(app_user)(app_a, "alice", "Alice A")
    call_id = (await database_sync_to_async(actions.call_invite)(user=alice, invitees=["bob"]))["callID"]
    ws = await opened(socket(ORIGIN_A, path="/ws/calls/?deviceID=page-1"))
    assert await ws.receive_nothing(0.2)  # nothing before the token
    await ws.send_json_to({"type": "auth", "token": await database_sync_to_async(mint_app_token)(app_a, "bob")})
    hello = await ws.receive_json_from(5)
    assert (hello["type"], hello["userID"], hello["deviceID"]) == ("hello", "bob", "page-1")
    waiting = await ws.receive_json_from(5)  # then what waits, as on any socket
    assert (waiting["event"], waiting["data"]["callID"], waiting["data"]["caller"]) == (
        "callInvitationReceived",
        call_id,
        "alice",
    )
    assert waiting["data"]["userNames"] == {"alice": "Alice A", "bob": "Bob B"}
    await ws.send_json_to({"type": "cmd", "id": 1, "cmd": "callAccept", "data": {"callID": call_id}})
    while (frame := await ws.receive_json_from(5))["type"] != "result":
        pass
    assert frame["ok"], frame
    await ws.disconnect()
    assert bob.username == f"bob#{app_a.app_id}"


async def test_nothing_within_the_auth_time_closes_with_4401(apps, settings):
    settings.CALL_SOCKET_AUTH_SECONDS = 0.3
    ws = await opened(socket(ORIGIN_A))
    assert await ws.receive_output(5) == CLOSED_4401  # awaited: the server's own timer closes it


@pytest.mark.parametrize(
    "first",
    [
        {"type": "ping"},
        {"type": "cmd", "id": 1, "cmd": "queryCallInvitationList", "data": {}},
        {"type": "auth"},
        {"type": "auth", "token": 123},
        {"type": "auth", "token": "not-a-jwt"},
        "not json",
        ["auth"],
    ],
)
async def test_anything_else_first_closes_with_4401(apps, first):
    ws = await opened(socket(ORIGIN_A))
    if isinstance(first, str):
        await ws.send_to(text_data=first)
    else:
        await ws.send_json_to(first)
    assert await ws.receive_output(5) == CLOSED_4401


async def test_a_site_token_as_the_first_frame_closes_with_4401(apps, make_user):
    alice = await database_sync_to_async(make_user)("alice")
    token = await database_sync_to_async(token_actions.api_token_create)(user=alice)
    ws = await opened(socket(ORIGIN_A))
    await ws.send_json_to({"type": "auth", "token": token})
    assert await ws.receive_output(5) == CLOSED_4401  # only an app's token opens an app's socket


async def test_an_apps_origin_with_another_identity_closes_with_4403(apps, make_user):
    app_a, app_b = apps
    token_b = await database_sync_to_async(mint_app_token)(app_b, "bob")
    # the first frame: app B's token on app A's page
    ws = await opened(socket(ORIGIN_A))
    await ws.send_json_to({"type": "auth", "token": token_b})
    assert await ws.receive_output(5) == CLOSED_4403
    # the header: app B's token, or a site account's, from app A's origin
    assert await (await opened(socket(ORIGIN_A, token=token_b))).receive_output(5) == CLOSED_4403
    alice = await database_sync_to_async(make_user)("alice")
    site_token = await database_sync_to_async(token_actions.api_token_create)(user=alice)
    assert await (await opened(socket(ORIGIN_A, token=site_token))).receive_output(5) == CLOSED_4403
    # the right pairing opens at once
    token_a = await database_sync_to_async(mint_app_token)(app_a, "bob")
    hello = await (await opened(socket(ORIGIN_A, token=token_a))).receive_json_from(5)
    assert (hello["type"], hello["userID"]) == ("hello", "bob")
    # a backend (no Origin) or the site's own page may use any app's token
    for origin in (None, "http://127.0.0.1:8000"):
        hello = await (await opened(socket(origin, token=token_b))).receive_json_from(5)
        assert (hello["type"], hello["userID"]) == ("hello", "bob"), origin


async def test_cookies_from_an_apps_origin_are_not_credentials(apps, make_user):
    """Two ports of one host share cookies: the site's session rides along from the app's page."""
    app_a, _ = apps
    await database_sync_to_async(make_user)("alice")
    browser = Client()
    assert await database_sync_to_async(browser.login)(username="alice", password=PASSWORD)
    cookie = browser.cookies["sessionid"].value
    ours = await opened(socket("http://127.0.0.1:8000", cookie=cookie))
    assert (await ours.receive_json_from(5))["userID"] == "alice"  # the site's own page
    await ours.disconnect()
    page = await opened(socket(ORIGIN_A, cookie=cookie))
    assert await page.receive_nothing(0.2)  # not alice: waiting for a token
    await page.send_json_to({"type": "auth", "token": await database_sync_to_async(mint_app_token)(app_a, "u1")})
    assert (await page.receive_json_from(5))["userID"] == "u1"
    await page.disconnect()


async def test_other_origins_without_credentials_close_at_once(apps):
    _, app_b = apps
    for origin in ("https://evil.example", "http://127.0.0.1:9001", "https://127.0.0.1:9000", "null"):
        assert await (await opened(socket(origin))).receive_output(5) == CLOSED_4401, origin
    await database_sync_to_async(type(app_b).objects.filter(pk=app_b.pk).update)(enabled=False)
    assert await (await opened(socket(ORIGIN_B))).receive_output(5) == CLOSED_4401  # a disabled app's origin
