"""What a person sees, in a real Chromium against a real daphne + rqworker: My calls at
phone width with Call back, the limits said in words where the person is, outcomes in
words, and the call stage taking the window (measured with bounding boxes)."""

import pytest
from playwright.sync_api import expect

from invitations.calls import actions
from tests.browser.test_call_page import call, expect_ringing, member, pick

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 375, "height": 740}


def box(page, selector):
    found = page.locator(selector).bounding_box()
    assert found is not None, f"{selector} is not shown"
    return found


def inside_viewport(page, selector):
    b, view = box(page, selector), page.viewport_size
    return (
        b["x"] >= 0
        and b["y"] >= 0
        and b["x"] + b["width"] <= view["width"] + 1
        and b["y"] + b["height"] <= view["height"] + 1
    )


def test_my_calls_fits_a_phone_and_call_back_prefills_the_call_page(login, shoot, alice, bob, carol):
    declined = actions.call_invite(user=alice, invitees=["bob"], extended_data='{"type": "voice"}')["callID"]
    actions.call_reject(user=bob, call_id=declined)
    missed = actions.call_invite(user=carol, invitees=["bob"], extended_data='{"type": "video"}')["callID"]
    actions.call_cancel(user=carol, call_id=missed)
    a = login("alice")
    b = login("bob", viewport=PHONE)
    b.goto("/calls/")
    row = b.locator(f'.call-row[data-call-id="{missed}"]')
    expect(row).to_contain_text("carol")
    expect(row).to_contain_text("Missed video call")
    expect(row).to_contain_text("carol cancelled before you answered")
    expect(b.locator(f'.call-row[data-call-id="{declined}"]')).to_contain_text("You declined")
    assert b.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    b.get_by_role("link", name="Missed", exact=True).click()
    expect(b.locator(".call-row")).to_have_count(1)
    shoot(b, "13-phone-my-calls")
    b.get_by_role("link", name="All", exact=True).click()
    b.locator(f'.call-row[data-call-id="{declined}"]').get_by_role("link", name="Call alice back").click()
    b.wait_for_selector("#conn-state[data-state=connected]")
    # picked and ready, but nothing rings until the person presses Call
    expect(b.locator("#pick-alice")).to_be_checked()
    expect(b.locator("#call-voice")).to_be_checked()
    expect(b.locator("#call-prefilled")).to_have_text("Ready to call alice: press Call to ring.")
    expect(b.locator("#call-start")).to_have_text("Call alice")
    b.wait_for_timeout(1000)
    expect(a.locator("#incoming")).to_be_hidden()
    assert "call=" not in b.url  # a reload does not pick again
    b.click("#call-start")
    expect_ringing(a, "bob")
    expect(a.locator("#incoming-kind")).to_have_text("Incoming voice call")


def test_limits_are_said_where_the_person_is(login, make_user, alice, bob, carol, dave):
    for name in ("erin", "frank", "grace", "heidi", "ivan", "judy", "ken"):
        make_user(name)
    a = login("alice")
    login("bob")
    # a bad ring time: words under the field, and Call cannot be pressed (no browser bubble)
    pick(a, "bob")
    a.fill("#call-timeout", "0")
    expect(a.locator("#call-timeout-note")).to_have_text("Ring for 1 to 600 seconds, or tick “Ring until answered”.")
    expect(a.locator("#call-start")).to_be_disabled()
    a.fill("#call-timeout", "30")
    expect(a.locator("#call-timeout-note")).to_contain_text("Call back, Ring again and Invite more ring that long too")
    expect(a.locator("#call-start")).to_be_enabled()
    # the tenth person: greyed out with the reason beside it
    for name in ("dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "ken"):
        a.click(f'label[for="pick-{name}"]')
    expect(a.locator("#pick-count")).to_have_text("9 / 9 selected")
    expect(a.locator("#pick-full")).to_be_visible()
    expect(a.locator("#pick-full")).to_have_text(
        "That is 9 people, the most one call can hold with you. Unpick someone to pick another."
    )
    expect(a.locator("#pick-carol")).to_be_disabled()
    expect(a.locator('li[data-user="carol"]')).to_have_attribute("title", "A call holds at most 9 people besides you")
    for name in ("erin", "frank", "grace", "heidi", "ivan", "judy", "ken", "bob"):
        a.click(f'label[for="pick-{name}"]')
    expect(a.locator("#pick-full")).to_be_hidden()
    # dave has no page open: the page asks for the not-received check and says so
    a.click("#call-start")
    expect(member(a, "outgoing", "dave")).to_contain_text("May be offline", timeout=15000)


def test_outcomes_in_words(login, alice, bob):
    a, b = login("alice"), login("bob")
    call(a, "bob")
    expect_ringing(b, "alice")
    b.click("#incoming-reject")
    expect(a.locator("#toasts")).to_contain_text("Nobody answered: bob declined.")
    call(a, "bob")
    expect_ringing(b, "alice")
    a.click("#outgoing-cancel")
    expect(a.locator("#toasts")).to_contain_text("You cancelled the call.")
    expect(a.locator("#toasts")).not_to_contain_text("bob was not rung")
    expect(a.locator("#toasts")).not_to_contain_text("bob: ")


def test_in_a_call_the_stage_takes_the_window(login, shoot, alice, bob):
    a = login("alice")
    b = login("bob", viewport=PHONE)
    call(a, "bob")
    expect_ringing(b, "alice")
    b.click("#incoming-accept")
    for page in (a, b):
        expect(page.locator("#media-tiles [data-tile]")).to_have_count(2)
        expect(page.locator("#incall-title")).to_have_text("In call with " + ("bob" if page is a else "alice"))
        stage, view = box(page, ".stage"), page.viewport_size
        assert stage["width"] * stage["height"] >= 0.95 * view["width"] * view["height"], stage
        expect(page.locator("#user-list")).to_be_hidden()
        expect(page.locator("#missed-list")).to_be_hidden()
        for control in ("#media-mute", "#incall-invite", "#incall-quit", "#incall-end", ".devices summary"):
            assert inside_viewport(page, control), control
    tiles = box(a, "#media-tiles")
    assert tiles["width"] >= 0.9 * 1280 and tiles["height"] >= 0.5 * 800, tiles
    remote = box(a, '#media-tiles [data-tile="bob"]')
    assert remote["width"] >= 600 and remote["height"] >= 400, remote
    shoot(b, "14-phone-in-call")
    a.click("#incall-end")
    expect(a.locator("#user-list")).to_be_visible()


def test_five_people_keep_the_controls_on_screen(login, shoot, make_user, alice, bob, carol, dave):
    make_user("erin")
    a = login("alice", viewport={"width": 1280, "height": 720})
    others = {
        "bob": login("bob"),
        "carol": login("carol"),
        "dave": login("dave"),
        "erin": login("erin", viewport=PHONE),
    }
    call(a, *others, kind="voice")
    for page in others.values():
        expect_ringing(page, "alice")
        page.click("#incoming-accept")
    for page in (a, others["erin"]):
        expect(page.locator("#media-tiles [data-tile]")).to_have_count(5)
        expect(page.locator('#media-tiles [data-featured="1"]')).to_have_count(1)
        for control in ("#media-mute", "#incall-quit", "#incall-end"):
            assert inside_viewport(page, control), control
        assert page.evaluate("document.scrollingElement.scrollTop") == 0
        # every tile is on screen too
        for i in range(5):
            assert inside_viewport(page, f"#media-tiles [data-tile] >> nth={i}"), i
    shoot(a, "15-five-in-call")
    featured = box(a, '#media-tiles [data-featured="1"]')
    plain = box(a, '#media-tiles [data-tile="alice"]')
    assert featured["width"] * featured["height"] > 2 * plain["width"] * plain["height"]
