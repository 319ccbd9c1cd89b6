"""An app beside the site, end to end against real daphne and rqworker processes
(PROTOCOL "Apps"): its page on another origin loads the kit's files, asks the API
across origins and authenticates its socket with the first frame; its backend
places a call over HTTP with its own token (the server API for apps)."""

import asyncio

import pytest
import requests
from channels.db import database_sync_to_async

from tests.apps_helpers import mint_app_token, new_app
from tests.wsclient import Client

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
PAGE_ORIGIN = "http://127.0.0.1:9"  # another origin than the site's: another port


async def test_an_apps_backend_calls_its_user_on_the_apps_page(live_site):
    app = await database_sync_to_async(new_app)("Shop", origins=[PAGE_ORIGIN])
    other = await database_sync_to_async(new_app)("Other")
    caller_token = mint_app_token(app, "u1", "Una")

    def get(path: str, **headers: str) -> requests.Response:
        return requests.get(f"{live_site}{path}", headers={"Origin": PAGE_ORIGIN, **headers}, timeout=10)

    # the page imports the kit's modules across origins, then asks the API
    kit = await asyncio.to_thread(get, "/static/js/zimclient.js")
    assert kit.status_code == 200 and kit.headers["Access-Control-Allow-Origin"] == "*"
    preflight = await asyncio.to_thread(
        requests.options,
        f"{live_site}/api/calls",
        headers={
            "Origin": PAGE_ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
        timeout=10,
    )
    assert preflight.status_code == 200 and preflight.headers["Access-Control-Allow-Origin"] == PAGE_ORIGIN

    page = await Client.connect_as_app_page(live_site, mint_app_token(app, "u2", "Dos"), PAGE_ORIGIN, "u2-page")
    assert page.hello["userID"] == "u2"
    stranger = await Client.connect(live_site, mint_app_token(other, "u2"), device_id="other-u2")

    # the app's backend: the same endpoint and tenancy as anyone's
    placed = await asyncio.to_thread(
        requests.post,
        f"{live_site}/api/calls",
        json={"invitees": ["u2"], "extendedData": '{"type":"video"}'},
        headers={"Authorization": f"Bearer {caller_token}"},
        timeout=10,
    )
    assert placed.status_code == 200, placed.text
    call_id = placed.json()["callID"]
    received = await page.event("callInvitationReceived", callID=call_id)
    assert received["data"]["caller"] == "u1" and received["data"]["userNames"] == {"u1": "Una", "u2": "Dos"}
    answer = await page.cmd("callAccept", callID=call_id)
    assert answer["ok"], answer
    info = await asyncio.to_thread(get, f"/api/calls/{call_id}", Authorization=f"Bearer {caller_token}")
    assert info.headers["Access-Control-Allow-Origin"] == PAGE_ORIGIN
    assert [(m["userID"], m["state"]) for m in info.json()["callUserList"]] == [("u1", 1), ("u2", 1)]
    # the other app's u2 heard nothing, and cannot see the call
    assert (await stranger.cmd("queryCall", callID=call_id))["error"]["reason"] == "call_not_found"
    assert not [e for e in stranger.events if e["event"].startswith("callInvitation")]
    await page.close()
    await stranger.close()
