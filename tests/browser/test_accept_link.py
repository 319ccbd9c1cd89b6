"""The call page's accept link in a real Chromium: `/?accept=<callID>` from anywhere only
brings that call's ringing dialog forward; only the service worker's one-time proof,
made when Accept is clicked on its notification, accepts (static/sw.js, incoming.js)."""

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from playwright.sync_api import expect

from invitations.calls import actions
from invitations.calls.states import PENDING
from invitations.models import CallUser
from tests.browser.test_push_notifications import service_worker_ready

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# Nothing shows that a page has declined to accept: once the link's page rings, this long
# is left for an accept to happen (the page without the check accepts within a second).
GRACE_S = 3


class OtherSite:
    """Another origin (another port on 127.0.0.1) serving one page, as a mail or chat site would."""

    def __init__(self, html: str) -> None:
        body = html.encode()

        class Page(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def state_of(call_id: str, user) -> int:
    return CallUser.objects.get(call__call_id=call_id, user=user).state


def expect_dialog_for(page, call_id: str, caller: str) -> None:
    expect(page.locator("#incoming")).to_be_visible()
    expect(page.locator("#incoming")).to_have_attribute("data-call-id", call_id)
    expect(page.locator("#incoming-caller")).to_have_text(caller)


def sw_worker(page):
    return next(w for w in page.context.service_workers if w.url.endswith("/sw.js"))


def proof_spent(page, proof: str) -> None:
    page.wait_for_function(
        """async (proof) => {
      const cache = await caches.open("callsite-sw");
      return !(await cache.match("/sw-state/accept-proof/" + proof));
    }""",
        arg=proof,
        polling=100,
    )


def test_a_link_from_another_site_brings_the_call_forward_and_does_not_accept(login, site, alice, bob, carol):
    page = login("bob")
    service_worker_ready(page)
    first = actions.call_invite(user=carol, invitees=["bob"], timeout=0)["callID"]  # rings until answered
    wanted = actions.call_invite(user=alice, invitees=["bob"], timeout=0)["callID"]
    expect_dialog_for(page, first, "carol")  # oldest first

    other = OtherSite(f'<a id="join" href="{site.base}/?accept={wanted}">Join my call</a>')
    try:
        page.goto(other.url)
        page.click("#join")  # a link in mail or chat: a cross-origin navigation carrying the session cookie
        page.wait_for_function(
            "([origin]) => location.origin === origin && location.search === ''", arg=[site.base]
        )  # the page drops the parameter
        page.wait_for_selector("#conn-state[data-state=connected]")
        expect_dialog_for(page, wanted, "alice")  # brought forward
        expect(page.locator("body")).to_have_attribute("data-ringing", "true")
        time.sleep(GRACE_S)
        assert state_of(wanted, bob) in PENDING and state_of(first, bob) in PENDING
        expect(page.locator("#incall")).to_be_hidden()
    finally:
        other.stop()

    # A proof counts for its own call only, and once: one made for alice's call and shown
    # with carol's is spent and refused, and then refused for alice's call too.
    url = sw_worker(page).evaluate("callID => acceptURL(callID)", wanted)
    proof = url.rsplit("proof=", 1)[1]
    page.goto(f"/?accept={first}&proof={proof}")
    proof_spent(page, proof)
    page.goto(url)
    proof_spent(page, proof)
    expect_dialog_for(page, wanted, "alice")
    time.sleep(GRACE_S)
    assert state_of(wanted, bob) in PENDING and state_of(first, bob) in PENDING

    # a forged proof of the right shape is refused as well
    page.goto(f"/?accept={wanted}&proof={'0' * 32}")
    expect_dialog_for(page, wanted, "alice")
    time.sleep(GRACE_S)
    assert state_of(wanted, bob) in PENDING
