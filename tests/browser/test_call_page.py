"""The call page in a real Chromium, two or three users, real daphne + rqworker.

Every flow of the call page is clicked through as a user would; states are read from
what the page shows (text and the data-* attributes it renders).
With SCREENSHOTS=1 the tests also save docs/screenshots/*.png.
"""

import re

import pytest
from playwright.sync_api import expect

from invitations.calls import actions

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def pick(page, *names):
    for name in names:
        page.locator(f'li[data-user="{name}"][data-online="1"]').wait_for()
        page.click(f'label[for="pick-{name}"]')


def call(page, *names, kind="video", mode="1", timeout=None):
    pick(page, *names)
    page.click(f'label[for="call-{kind}"]')
    page.select_option("#call-mode", mode)
    if timeout is not None:
        page.fill("#call-timeout", str(timeout))
    page.click("#call-start")


def member(page, view, name):
    return page.locator(f'#{view}-members [data-member="{name}"]')


def expect_ringing(page, caller):
    expect(page.locator("#incoming")).to_be_visible()
    expect(page.locator("#incoming-caller")).to_have_text(caller)
    expect(page.locator("body")).to_have_attribute("data-ringing", "true")


def expect_not_ringing(page):
    expect(page.locator("#incoming")).to_be_hidden()
    expect(page.locator("body")).to_have_attribute("data-ringing", "false")


def test_invite_ring_accept_end(login, shoot, alice, bob):
    a = login("alice")
    b = login("bob")
    expect(a.locator('li[data-user="bob"] .presence')).to_have_text("Online")
    shoot(a, "01-idle-people")
    # keyboard only: Space picks a person, Enter places the call and accepts it
    a.locator('li[data-user="bob"][data-online="1"]').wait_for()
    a.focus("#pick-bob")
    a.keyboard.press("Space")
    expect(a.locator("#pick-count")).to_have_text("1 / 9 selected")
    a.focus("#call-start")
    a.keyboard.press("Enter")
    expect(a.locator("#outgoing")).to_be_visible()
    expect(member(a, "outgoing", "bob")).to_have_attribute("data-state", "5")
    expect(member(a, "outgoing", "bob")).to_contain_text("Ringing")
    shoot(a, "02-outgoing")
    expect_ringing(b, "alice")
    expect(b.locator("#incoming-kind")).to_have_text("Incoming video call")
    expect(b.locator("#incoming-countdown")).to_contain_text("Rings for")
    shoot(b, "03-incoming")
    expect(b.locator("#incoming-accept")).to_be_focused()
    b.keyboard.press("Enter")
    expect_not_ringing(b)
    for page in (a, b):
        expect(page.locator("#incall")).to_be_visible()
        expect(member(page, "incall", "bob")).to_contain_text("In call")
        expect(member(page, "incall", "alice")).to_contain_text("In call")
    expect(a.locator("#incall-timer")).to_have_text(re.compile(r"00:0[1-9]"), timeout=8000)
    shoot(a, "04-in-call")
    b.reload()  # a reload keeps the tab's call
    expect(b.locator("#conn-state")).to_have_attribute("data-state", "connected")
    expect(b.locator("#incall")).to_be_visible()
    expect(member(b, "incall", "alice")).to_contain_text("In call")
    a.click("#incall-end")
    expect(a.locator("#idle")).to_be_visible()
    expect(b.locator("#idle")).to_be_visible()
    expect(b.locator("#toasts")).to_contain_text("Call ended by alice")


def test_reject_busy_and_auto_busy(login, alice, bob, carol):
    a, b, c = login("alice"), login("bob"), login("carol")
    call(a, "bob")
    expect_ringing(b, "alice")
    expect(b.locator("#incoming-busy")).to_be_hidden()  # not in a call: plain reject only
    b.click("#incoming-reject")
    expect_not_ringing(b)
    expect(a.locator("#toasts")).to_contain_text("Nobody answered: bob declined.")
    expect(a.locator("#idle")).to_be_visible()

    # bob in a call with alice; carol's call does not ring loudly: a quiet banner offers "Busy"
    call(a, "bob")
    expect_ringing(b, "alice")
    b.click("#incoming-accept")
    expect(b.locator("#incall")).to_be_visible()
    call(c, "bob", kind="voice")
    expect(b.locator("#call-waiting")).to_be_visible()
    expect(b.locator("#call-waiting-caller")).to_have_text("carol")
    expect(b.locator("#call-waiting-kind")).to_contain_text("voice call")
    expect(b.locator("#incoming")).to_be_hidden()
    b.click("#call-waiting-busy")
    expect(c.locator("#toasts")).to_contain_text("Nobody answered: bob is busy.")
    expect(b.locator("#incall")).to_be_visible()  # still in the call with alice

    # the auto-busy setting (under Settings, out of the way while in a call) rejects without ringing
    a.click("#incall-end")
    expect(b.locator("#idle")).to_be_visible()
    b.click(".settings summary")
    b.check("#auto-busy")
    call(a, "bob")
    expect_ringing(b, "alice")
    b.click("#incoming-accept")
    expect(b.locator("#incall")).to_be_visible()
    call(c, "bob")
    expect(c.locator("#toasts")).to_contain_text("Nobody answered: bob is busy.")
    expect(b.locator("#toasts")).to_contain_text("Rejected carol as busy (auto)")
    expect_not_ringing(b)


def test_cancel_leaves_missed_call(login, shoot, alice, bob):
    a = login("alice")
    b = login("bob", viewport={"width": 390, "height": 844})
    call(a, "bob")
    expect_ringing(b, "alice")
    shoot(b, "05-phone-incoming")
    a.click("#outgoing-cancel")
    expect(a.locator("#idle")).to_be_visible()
    expect_not_ringing(b)
    missed = b.locator('#missed-list .missed-item[data-caller="alice"]')
    expect(missed).to_contain_text("cancelled")
    shoot(b, "06-phone-missed")


def test_timeout_missed_call_and_call_back(login, shoot, alice, bob):
    a, b = login("alice"), login("bob")
    call(a, "bob", mode="0", timeout=3)
    expect_ringing(b, "alice")
    # rings only until the deadline, then the server's timeout leaves a notice
    expect_not_ringing(b)
    missed = b.locator('#missed-list .missed-item[data-caller="alice"]')
    expect(missed).to_contain_text("no answer")
    expect(a.locator("#toasts")).to_contain_text("Nobody answered: bob did not answer.")
    expect(a.locator("#idle")).to_be_visible()
    shoot(b, "07-missed-call")
    missed.get_by_role("button", name="Call alice back").click()
    expect_ringing(a, "bob")
    expect(b.locator("#outgoing")).to_be_visible()
    expect(missed).to_have_count(0)
    a.click("#incoming-accept")
    expect(b.locator("#incall")).to_be_visible()


def test_advanced_invite_more_quit_end(login, shoot, alice, bob, carol):
    a, b, c = login("alice"), login("bob"), login("carol")
    call(a, "bob")
    expect_ringing(b, "alice")
    b.click("#incoming-accept")
    expect(a.locator("#incall")).to_be_visible()
    a.click("#incall-invite")
    expect(a.locator("#invite-dialog")).to_be_visible()
    expect(a.locator('#invite-list li[data-user="bob"]')).to_have_count(0)  # already in the call
    a.click('label[for="invite-carol"]')
    shoot(a, "08-invite-more")
    a.click("#invite-send")
    expect(a.locator("#invite-dialog")).to_be_hidden()
    expect_ringing(c, "alice")
    expect(c.locator("#incoming-detail")).to_contain_text("bob")
    expect(member(b, "incall", "carol")).to_contain_text("Ringing")
    c.click("#incoming-accept")
    for page in (a, b, c):
        expect(page.locator("#incall-members li")).to_have_count(3)
        expect(member(page, "incall", "carol")).to_contain_text("In call")
    shoot(c, "09-three-in-call")
    b.click("#incall-quit")
    expect(b.locator("#idle")).to_be_visible()
    expect(member(a, "incall", "bob")).to_contain_text("Left")
    expect(member(c, "incall", "bob")).to_contain_text("Left")
    a.click("#incall-end")
    expect(a.locator("#idle")).to_be_visible()
    expect(c.locator("#idle")).to_be_visible()
    expect(c.locator("#toasts")).to_contain_text("Call ended by alice")


def alice_calls_bob_in_two_tabs(login):
    """alice's page, and bob's two tabs (one browser), both ringing."""
    a = login("alice")
    b1 = login("bob")
    b2 = login("bob", context=b1.context)
    call(a, "bob")
    expect_ringing(b1, "alice")
    expect_ringing(b2, "alice")
    return a, b1, b2


def test_two_tabs_ring_and_stop_together(login, alice, bob):
    a, b1, b2 = alice_calls_bob_in_two_tabs(login)
    b2.click("#incoming-accept")
    expect(b2.locator("#incall")).to_be_visible()
    expect_not_ringing(b1)
    expect(b1.locator("#toasts")).to_contain_text("Answered on another tab or device")
    expect(b1.locator("#idle")).to_be_visible()
    expect(b1.locator("#missed-list .missed-item")).to_have_count(0)
    expect(member(a, "incall", "bob")).to_contain_text("In call")


def test_reconnect_after_server_restart_resyncs(login, shoot, site, alice, bob):
    a, b = login("alice"), login("bob")
    call(a, "bob")
    expect_ringing(b, "alice")
    b.click("#incoming-accept")
    expect(a.locator("#incall")).to_be_visible()
    call_id = a.evaluate("window.zimClient.heldCalls()[0]")

    site.stop_daphne()
    for page in (a, b):
        expect(page.locator("#conn-state")).to_have_attribute("data-state", "reconnecting")
        expect(page.locator("#conn-state")).to_contain_text(re.compile("reconnecting", re.I))
    shoot(a, "10-reconnecting")
    # the call ends while nobody can hear about it: the event is lost, resync must find it
    actions.call_end(user=bob, call_id=call_id)
    site.start_daphne()
    for page in (a, b):
        # skip the rest of the backoff wait; in one step in the page, since the button
        # goes away by itself when the reconnect wins the race
        page.evaluate("() => { const b = document.querySelector('#conn-retry'); if (b && b.offsetParent) b.click(); }")
        expect(page.locator("#conn-state")).to_have_attribute("data-state", "connected", timeout=30000)
    expect(a.locator("#idle")).to_be_visible()
    expect(a.locator("#toasts")).to_contain_text("Call ended")
    # and the page works again
    call(b, "alice")
    expect_ringing(a, "bob")
