"""Media between the members in a real Chromium: fake microphone and
camera, real WebRTC over loopback, signaled through a real daphne.

Media is proven with RTCPeerConnection.getStats() (window.callMedia.session.stats()):
inbound bytes per kind must grow. Everything waits on conditions, never on time.
"""

import time

import pytest
from playwright.sync_api import expect

from tests.browser.test_call_page import (
    alice_calls_bob_in_two_tabs,
    call,
    expect_ringing,
    member,
)

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

WAIT_S = 30  # generous: two cores shared with other work


def stats(page) -> dict:
    return page.evaluate("async () => window.callMedia.session ? await window.callMedia.session.stats() : null") or {}


def wait_until(what: str, check, timeout: float = WAIT_S):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.25)


def expect_receiving(page, user: str, kinds=("audio", "video")) -> None:
    """`page` receives media of each kind from `user`, and the bytes keep growing."""
    first = wait_until(
        f"{user}'s {kinds} reach the page",
        lambda: (row := stats(page).get(user)) and all(row[f"{k}In"] > 0 for k in kinds) and row,
    )
    wait_until(
        f"{user}'s {kinds} keep coming",
        lambda: (row := stats(page).get(user)) and all(row[f"{k}In"] > first[f"{k}In"] for k in kinds),
    )


def tile(page, user: str):
    return page.locator(f'#media-tiles [data-tile="{user}"]')


def answer(page, caller: str) -> None:
    expect_ringing(page, caller)
    page.click("#incoming-accept")
    expect(page.locator("#incall")).to_be_visible()


def test_video_call_both_see_and_hear_then_the_call_moves_to_a_second_tab(login, shoot, alice, bob):
    a, b1, b2 = alice_calls_bob_in_two_tabs(login)
    answer(b1, "alice")
    expect_receiving(a, "bob")
    expect_receiving(b1, "alice")
    for page, other in ((a, "bob"), (b1, "alice")):
        expect(tile(page, other)).to_have_attribute("data-conn", "connected")
        expect(tile(page, other)).to_have_attribute("data-video", "1")
    shoot(a, "11-video-call-two-way")

    # bob's second tab offers to take the call, and does (callJoin moves it to that device)
    expect(b2.locator("#elsewhere")).to_be_visible()
    expect(b2.locator("#elsewhere-with")).to_have_text("alice")
    b2.click("#elsewhere-join")
    expect(b2.locator("#incall")).to_be_visible()
    expect(b1.locator("#idle")).to_be_visible()
    expect(b1.locator("#toasts")).to_contain_text("moved to another tab or device")
    wait_until("the old tab has no media", lambda: b1.evaluate("window.callMedia.session === null"))
    expect_receiving(b2, "alice")
    expect_receiving(a, "bob")  # a new connection, to the new tab
    expect(tile(a, "bob")).to_have_attribute("data-conn", "connected")


def test_three_way_video_call_mute_and_quit(login, shoot, alice, bob, carol):
    a, b, c = login("alice"), login("bob"), login("carol")
    call(a, "bob", "carol")
    answer(b, "alice")
    answer(c, "alice")
    for page, others in ((a, ("bob", "carol")), (b, ("alice", "carol")), (c, ("alice", "bob"))):
        for other in others:
            expect_receiving(page, other)
        expect(page.locator("#media-tiles .tile")).to_have_count(3)
    for page in (a, b, c):
        for other in ("alice", "bob", "carol"):
            expect(tile(page, other)).to_have_attribute("data-video", "1")
    shoot(a, "12-video-call-three-way")

    # alice mutes: her track is disabled and the others show her muted
    a.click("#media-mute")
    expect(a.locator("#media-mute")).to_have_attribute("aria-pressed", "true")
    assert a.evaluate("window.callMedia.session.local.getAudioTracks().every((t) => !t.enabled)")
    for page in (b, c):
        expect(tile(page, "alice")).to_have_attribute("data-muted", "1")
        expect(tile(page, "alice")).to_contain_text("Muted")
    a.click("#media-mute")
    for page in (b, c):
        expect(tile(page, "alice")).to_have_attribute("data-muted", "0")

    # bob leaves: everyone's connection to him closes and his tile goes away
    b.click("#incall-quit")
    expect(b.locator("#idle")).to_be_visible()
    for page in (a, c):
        expect(tile(page, "bob")).to_have_count(0)
        expect(member(page, "incall", "bob")).to_contain_text("Left")
        wait_until("the connection to bob is gone", lambda page=page: "bob" not in stats(page))
    assert b.evaluate("window.callMedia.session === null")
    expect_receiving(a, "carol")
    expect_receiving(c, "alice")


def test_voice_call_is_audio_only_and_survives_a_websocket_reconnect(login, site, alice, bob):
    a, b = login("alice"), login("bob")
    call(a, "bob", kind="voice")
    answer(b, "alice")
    for page, other in ((a, "bob"), (b, "alice")):
        expect_receiving(page, other, kinds=("audio",))
        row = stats(page)[other]
        assert row["videoIn"] == 0 and row["videoOut"] == 0
        assert page.evaluate("window.callMedia.session.local.getVideoTracks().length") == 0
        expect(tile(page, other)).to_have_attribute("data-video", "0")
        expect(page.locator("#media-camera")).to_be_hidden()
        # the fake microphone beeps: its level lights the speaking ring on the other side
        expect(tile(page, other)).to_have_attribute("data-speaking", "1", timeout=2 * WAIT_S * 1000)

    # the server goes away: media keeps flowing peer to peer, and the page reconnects
    site.stop_daphne()
    for page in (a, b):
        expect(page.locator("#conn-state")).to_have_attribute("data-state", "reconnecting")
    expect_receiving(a, "bob", kinds=("audio",))
    site.start_daphne()
    for page in (a, b):
        # in one step in the page: the button goes away by itself when the reconnect wins the race
        page.evaluate("() => { const b = document.querySelector('#conn-retry'); if (b && b.offsetParent) b.click(); }")
        expect(page.locator("#conn-state")).to_have_attribute("data-state", "connected", timeout=30000)
    expect_receiving(b, "alice", kinds=("audio",))
    expect(tile(a, "bob")).to_have_attribute("data-conn", "connected")


def test_without_microphone_and_camera_permission_the_call_goes_on_receive_only(login, browser_that_asks, alice, bob):
    a = login("alice")
    b = login("bob", in_browser=browser_that_asks, permissions=["notifications"])  # microphone, camera: refused
    call(a, "bob")
    answer(b, "alice")
    expect(b.locator("#media-note")).to_be_visible()
    expect(b.locator("#media-note")).to_contain_text("not allowed")
    expect_receiving(b, "alice")  # bob still sees and hears alice
    assert b.evaluate("window.callMedia.session.local") is None
    expect(b.locator("#media-mute")).to_be_disabled()
    # alice sees bob's avatar, muted, and receives no media from him
    expect(tile(a, "bob")).to_have_attribute("data-conn", "connected")
    expect(tile(a, "bob")).to_have_attribute("data-muted", "1")
    expect(tile(a, "bob")).to_have_attribute("data-video", "0")
    row = stats(a)["bob"]
    assert row["audioIn"] == 0 and row["videoIn"] == 0


def test_a_video_call_of_four_without_a_media_server_says_why_it_may_struggle(login, alice, bob, carol, dave):
    a, b, c, d = (login(name, viewport={"width": 800, "height": 600}) for name in ("alice", "bob", "carol", "dave"))
    call(a, "bob", "carol", "dave")
    answer(b, "alice")
    answer(c, "alice")
    expect(a.locator("#media-tiles .tile")).to_have_count(3)
    expect(a.locator("#media-mesh-note")).to_be_hidden()  # three is fine peer to peer
    answer(d, "alice")
    for page in (a, b, c, d):
        expect(page.locator("#media-mesh-note")).to_be_visible()
        expect(page.locator("#media-mesh-note")).to_contain_text("4 people in this video call")
        expect(page.locator("#media-mesh-note")).to_contain_text("no media server")
        assert page.evaluate("window.callMedia.session.topology") == "p2p"
