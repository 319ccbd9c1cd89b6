"""A site configured with TURN: the page asks for its ICE servers once its user is
Accepted (the server gives TURN entries only then), so each side's connections get
the relay with credentials made for its user, and media flows.

There is no TURN server here (the relay address answers nothing): the media goes over
loopback host candidates; what is proven is that the relay reaches the page when the
server is willing to give it, and that an unreachable relay does not hold the call up.
"""

import pytest
from playwright.sync_api import expect

from tests.browser.test_call_page import call
from tests.browser.test_media import answer, expect_receiving, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

TURN = "turn:127.0.0.1:9?transport=udp"


@pytest.fixture
def turn_configured(monkeypatch):
    """The environment of the site's processes (started after this fixture)."""
    monkeypatch.setenv("CALL_ICE_SERVERS", f'[{{"urls": "stun:127.0.0.1:9"}}, {{"urls": "{TURN}"}}]')
    monkeypatch.setenv("CALL_TURN_SECRET", "browser-test-secret")


def ice_servers(page) -> list:
    return page.evaluate("() => window.callMedia.session ? window.callMedia.session.iceServers : null")


def test_the_page_gets_turn_credentials_after_accepting_and_media_flows(turn_configured, login, alice, bob):
    a, b = login("alice"), login("bob")
    call(a, "bob")
    answer(b, "alice")
    for page, user in ((a, "alice"), (b, "bob")):
        servers = wait_until(f"{user}'s page has its ICE servers", lambda: ice_servers(page))
        turn = next(s for s in servers if s["urls"] == TURN)
        assert turn["username"].endswith(f":{user}") and turn["credential"], turn
    expect_receiving(a, "bob")
    expect_receiving(b, "alice")
    expect(a.locator('#media-tiles [data-tile="bob"]')).to_have_attribute("data-conn", "connected")
