"""Connection quality in a real call: each tile's mark follows what getStats() says of
the member's audio, and a member whose network turns bad is named ("bob's connection
is unstable"). Bob's network is made lossy with Chromium's own emulation (the DevTools
protocol's packetLoss acts on WebRTC's packets; this kernel has no netem). The
thresholds themselves are tested in Node (tests/js/quality.test.mjs)."""

import pytest
from playwright.sync_api import expect

from tests.browser.test_call_page import call
from tests.browser.test_media import answer, expect_receiving, tile

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# WebRTC's packetLoss acts only while the emulation throttles something (latency 1 ms here),
# and only on sockets made while it was on: armed before the call, changed mid-call.
NORMAL = {"offline": False, "latency": 1, "downloadThroughput": -1, "uploadThroughput": -1, "packetLoss": 0}


def test_a_member_with_a_lossy_network_is_marked_and_named(login, shoot, alice, bob):
    a = login("alice")
    b = login("bob")
    network = b.context.new_cdp_session(b)  # one session: another one's conditions would not replace these
    network.send("Network.enable")
    network.send("Network.emulateNetworkConditions", NORMAL)

    call(a, "bob", kind="voice")
    answer(b, "alice")
    expect_receiving(a, "bob", kinds=("audio",))
    bob_on_alice = tile(a, "bob")
    expect(bob_on_alice).to_have_attribute("data-quality", "good", timeout=15000)
    expect(tile(b, "alice")).to_have_attribute("data-quality", "good", timeout=15000)
    expect(bob_on_alice.locator(".quality-mark")).to_have_attribute("aria-label", "Good connection")
    expect(tile(a, "alice").locator(".quality-mark")).to_have_count(0)  # one's own tile has no mark
    expect(a.locator("#quality-note")).to_be_hidden()

    network.send("Network.emulateNetworkConditions", {**NORMAL, "packetLoss": 25})
    expect(bob_on_alice).to_have_attribute("data-quality", "poor", timeout=15000)
    expect(bob_on_alice.locator(".quality-mark")).to_have_attribute("aria-label", "Poor connection")
    expect(a.locator("#quality-note")).to_be_visible(timeout=15000)
    expect(a.locator("#quality-note")).to_have_text("bob's connection is unstable")
    title = bob_on_alice.locator(".quality-mark").get_attribute("title")
    assert title.startswith("Poor connection · round trip") and "loss" in title, title
    shoot(a, "quality-unstable")

    network.send("Network.emulateNetworkConditions", NORMAL)
    expect(bob_on_alice).to_have_attribute("data-quality", "good", timeout=20000)
    # after QUALITY.stableAfter better seconds in a row (a starved machine can break the run)
    expect(a.locator("#quality-note")).to_be_hidden(timeout=30000)
