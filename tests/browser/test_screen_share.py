"""Screen sharing in a real Chromium, peer to peer: Chromium's fake screen capture
(1280x720) reaches the other member as a tile of its own, decoded frame by frame; one
presenter at a time; the browser's own "Stop sharing" (the track's `ended`) stops it.
"""

import pytest
from playwright.sync_api import expect

from tests.browser.test_call_page import call
from tests.browser.test_media import answer, tile, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SCREEN_WIDTH = 1280  # Chromium's fake screen; the fake camera is 640 wide


def report(page) -> dict:
    return page.evaluate("async () => window.callMedia.session ? await window.callMedia.session.report() : null") or {}


def screen_frames(page, presenter: str) -> int:
    return report(page).get("remotes", {}).get(presenter, {}).get("screenFramesDecoded", 0)


def expect_screen_from(page, presenter: str) -> None:
    """`page` shows presenter's screen in the screen tile, and decodes more and more of it."""
    screen = page.locator('#media-tiles [data-tile="screen"]')
    expect(screen).to_have_attribute("data-presenter", presenter)
    expect(screen).to_have_attribute("data-video", "1")
    first = wait_until(f"{presenter}'s screen decodes", lambda: screen_frames(page, presenter))
    wait_until(f"{presenter}'s screen keeps decoding", lambda: screen_frames(page, presenter) > first)
    row = report(page)["remotes"][presenter]
    assert row["screenWidth"] > row["frameWidth"], row  # the screen, not the camera, in that tile


def stop_from_browser_bar(page) -> None:
    """What the browser's "Stop sharing" does: the capture track ends."""
    page.evaluate("() => window.callMedia.session.screen.dispatchEvent(new Event('ended'))")


def test_screen_shared_peer_to_peer_one_presenter_at_a_time(login, shoot, alice, bob):
    a, b = login("alice"), login("bob")
    call(a, "bob")
    answer(b, "alice")
    expect(tile(a, "bob")).to_have_attribute("data-video", "1")
    expect(b.locator("#media-screen")).to_have_text("Share screen")

    a.click("#media-screen")
    expect(a.locator("#media-screen")).to_have_attribute("aria-pressed", "true")
    expect(a.locator('#media-tiles [data-tile="screen"]')).to_have_attribute("data-presenter", "alice")
    expect_screen_from(b, "alice")
    expect(tile(b, "alice")).to_have_attribute("data-video", "1")  # her camera keeps its own tile
    assert report(b)["remotes"]["alice"]["frameWidth"] < SCREEN_WIDTH
    # one presenter at a time: bob's button says who presents and is refused
    expect(b.locator("#media-screen")).to_be_disabled()
    expect(b.locator("#media-screen")).to_have_text("alice is presenting")
    shoot(b, "16-screen-shared")

    stop_from_browser_bar(a)
    for page in (a, b):
        expect(page.locator('#media-tiles [data-tile="screen"]')).to_have_count(0)
    expect(b.locator("#media-screen")).to_be_enabled()
    assert a.evaluate("window.callMedia.session.screen") is None

    # bob shares next, over the same connection
    b.click("#media-screen")
    expect_screen_from(a, "bob")
    b.click("#media-screen")
    expect(a.locator('#media-tiles [data-tile="screen"]')).to_have_count(0)
