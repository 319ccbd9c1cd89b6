"""Sockets of three tenants with the same userIDs (PROTOCOL "Apps"), through the real ASGI
stack and Redis: presence and events never cross tenants; an app's page (first-frame
auth) and an app's backend (the token in the header) are the same user."""

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from callsite.asgi import application
from invitations.accounts import token_actions
from tests.apps_helpers import make_app_user, mint_app_token, new_app
from tests.realtime.test_consumer import close_sync_thread_connections, command, connect, frames  # noqa: F401

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fast_passwords")]
ORIGIN = "http://127.0.0.1:9000"


@pytest.fixture
def tokens(make_user):
    """tenant -> userID -> token, for alice and bob in each."""
    found = {"site": {n: token_actions.api_token_create(user=make_user(n)) for n in ("alice", "bob")}}
    for name in ("app1", "app2"):
        app = new_app(name, origins=[ORIGIN] if name == "app1" else [])
        found[name] = {n: mint_app_token(app, n, f"{n.title()} of {name}") for n in ("alice", "bob")}
        for n in ("alice", "bob"):
            make_app_user(app, n)
    return found


async def page(token: str, query: str = "") -> tuple[WebsocketCommunicator, dict]:
    """An app's page: no credentials on the upgrade, the token as the first frame."""
    comm = WebsocketCommunicator(
        application, "/ws/calls/" + (f"?{query}" if query else ""), headers=[(b"origin", ORIGIN.encode())]
    )
    connected, _ = await comm.connect(timeout=10)
    assert connected
    await comm.send_json_to({"type": "auth", "token": token})
    hello = await comm.receive_json_from(timeout=10)
    assert hello["type"] == "hello", hello
    return comm, hello


async def test_presence_stays_within_the_tenant(tokens):
    site, _ = await connect(tokens["site"]["alice"], query="presence=1")
    app1, hello = await page(tokens["app1"]["alice"], query="presence=1")
    assert hello["userID"] == "alice"
    app2, _ = await connect(tokens["app2"]["alice"], query="presence=1")
    bob1, _ = await connect(tokens["app1"]["bob"])
    assert [f["data"] for f in await frames(app1, 1)] == [{"userID": "bob", "online": True}]
    assert await site.receive_nothing(0.3) and await app2.receive_nothing(0.1)
    bob, _ = await connect(tokens["site"]["bob"])
    assert [f["data"] for f in await frames(site, 1)] == [{"userID": "bob", "online": True}]
    assert await app1.receive_nothing(0.3) and await app2.receive_nothing(0.1)
    await bob1.disconnect()
    assert [f["data"] for f in await frames(app1, 1)] == [{"userID": "bob", "online": False}]
    assert await site.receive_nothing(0.3) and await app2.receive_nothing(0.1)
    for comm in (site, app1, app2, bob):
        await comm.disconnect()


async def test_a_call_between_an_apps_page_and_its_backend_reaches_no_other_tenant(tokens):
    bob_page, _ = await page(tokens["app1"]["bob"])
    bob_site, _ = await connect(tokens["site"]["bob"])
    bob_app2, _ = await connect(tokens["app2"]["bob"])
    alice, _ = await connect(tokens["app1"]["alice"])  # alice's backend, the token in the header
    reply = await command(alice, "callInvite", 1, invitees=["bob"], extendedData="")
    while reply["type"] != "result":
        reply = await alice.receive_json_from(timeout=10)
    assert reply["ok"] and reply["data"]["errorInvitees"] == [], reply
    received = (await frames(bob_page, 2))[0]
    assert received["event"] == "callInvitationReceived"
    assert received["data"]["userNames"] == {"alice": "Alice of app1", "bob": "Bob of app1"}
    assert await bob_site.receive_nothing(0.3) and await bob_app2.receive_nothing(0.1)
    queried = await command(bob_site, "queryCall", 1, callID=reply["data"]["callID"])
    assert queried["error"]["reason"] == "call_not_found"
    for comm in (bob_page, bob_site, bob_app2, alice):
        await comm.disconnect()
