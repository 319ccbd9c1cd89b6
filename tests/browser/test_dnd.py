"""Do not disturb in the call page: the status control, invitations that arrive
quietly (no sound, no notification, a badge and a quiet banner), unanswered ones in
missed calls, and a dnd that ends by itself at its time. Sound is checked through the
page's analyser (tests/browser/listening.py)."""

import json

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from invitations.accounts import status
from invitations.calls.payloads import ms
from tests.browser.listening import assert_silent, expect_playing, hear
from tests.browser.test_call_page import call, expect_ringing

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

CLASSIC_HZ = (400, 450)

# The page shows a notification for a call only while it is hidden: pretend it is, and
# count the notifications it makes.
PRETEND_HIDDEN = """
  window.notificationsMade = [];
  Object.defineProperty(document, "hidden", { get: () => window.pretendHidden === true });
  const Real = window.Notification;
  window.Notification = class extends Real {
    constructor(title, options) { super(title, options); window.notificationsMade.push(title); }
  };
  Object.defineProperty(window.Notification, "permission", { get: () => Real.permission });
"""


def set_status(page, choice: str) -> None:
    page.click("#status-pill")
    page.click(f'[data-status-choice="{choice}"]')


def test_a_call_in_dnd_arrives_quietly_and_lands_in_missed_calls(login, shoot, alice, bob):
    b = login("bob")
    b.context.add_init_script(PRETEND_HIDDEN)
    b.reload()
    b.wait_for_selector("#conn-state[data-state=connected]")
    expect(b.locator("#status-pill")).to_have_text("Available")
    set_status(b, "off")
    expect(b.locator("#status-pill")).to_have_text("Do not disturb")
    expect(b.locator("#status-pill")).to_have_attribute("data-status", "dnd")
    assert status.user_status_get(user=bob) == {"status": "dnd", "until": None}
    b.evaluate("window.pretendHidden = true")

    a = login("alice")
    call(a, "bob", timeout=6)
    # the caller is not told: bob's phone "rings" and alice hears ringback
    expect(a.locator('#outgoing-members [data-member="bob"]')).to_contain_text("Ringing")
    hear(a, 425)
    # bob: no dialog, no sound, no notification; a quiet banner and a badge
    expect(b.locator("body")).to_have_attribute("data-ringing", "quiet")
    expect(b.locator("#call-waiting")).to_be_visible()
    expect(b.locator("#call-waiting-caller")).to_have_text("alice")
    expect(b.locator("#call-waiting-kind")).to_contain_text("not ringing: do not disturb")
    expect(b.locator("#call-waiting-busy")).to_have_text("Decline")
    expect(b.locator("#call-waiting-answer")).to_have_text("Answer")
    expect(b.locator("#quiet-count")).to_be_visible()
    expect(b.locator("#quiet-count")).to_have_text("1")
    expect(b.locator("#quiet-count")).to_have_attribute("aria-label", "1 call is waiting quietly (do not disturb)")
    expect(b.locator("#incoming")).to_be_hidden()
    b.evaluate("window.pretendHidden = false")
    shoot(b, "dnd-quiet-call")
    b.evaluate("window.pretendHidden = true")
    expect_playing(b, [])
    assert_silent(b, 1500)
    assert b.evaluate("window.notificationsMade") == []

    # unanswered: it times out and is a missed call like any other
    expect(b.locator("#call-waiting")).to_be_hidden(timeout=15000)
    expect(b.locator("#quiet-count")).to_be_hidden()
    expect(b.locator('#missed-list [data-caller="alice"]')).to_be_visible()
    expect(b.locator('#missed-list [data-caller="alice"]')).to_contain_text("no answer")

    # available again: the next call rings, with sound and a notification (the control case)
    set_status(b, "available")
    expect(b.locator("#status-pill")).to_have_text("Available")
    expect(a.locator("#idle")).to_be_visible()
    call(a, "bob")
    expect_ringing(b, "alice")
    hear(b, *CLASSIC_HZ)
    b.wait_for_function("window.notificationsMade.length === 1")


def test_a_quiet_call_can_be_answered(login, alice, bob):
    b = login("bob")
    set_status(b, "hour")
    expect(b.locator("#status-pill")).to_contain_text("Do not disturb until")
    # an hour from now, as the server keeps it
    until = status.user_status_get(user=bob)["until"]
    assert abs(until - (ms(timezone.now()) + 3600_000)) < 60_000
    page_time = b.evaluate("(u) => new Date(u).toLocaleTimeString([], {hour: '2-digit', minute: '2-digit'})", until)
    expect(b.locator("#status-pill")).to_have_text(f"Do not disturb until {page_time}")

    a = login("alice")
    call(a, "bob")
    expect(b.locator("#call-waiting")).to_be_visible()
    b.click("#call-waiting-answer")
    for page in (a, b):
        expect(page.locator("#incall")).to_be_visible()
    expect(b.locator("#call-waiting")).to_be_hidden()


def test_until_tomorrow_morning(login, shoot, bob):
    b = login("bob")
    b.click("#status-pill")
    expect(b.locator('[data-status-choice="tomorrow"]')).to_be_visible()
    shoot(b, "dnd-status-menu")
    b.click('[data-status-choice="tomorrow"]')
    morning = b.evaluate("""() => { const t = new Date(); t.setDate(t.getDate() + 1); t.setHours(8, 0, 0, 0);
      return t.getTime(); }""")
    page_time = b.evaluate("(u) => new Date(u).toLocaleTimeString([], {hour: '2-digit', minute: '2-digit'})", morning)
    assert page_time.startswith("08:00")
    expect(b.locator("#status-pill")).to_have_text(f"Do not disturb until tomorrow {page_time}")
    assert status.user_status_get(user=bob)["until"] == morning


def test_dnd_set_on_another_device_silences_what_rings_here(login, alice, bob):
    a = login("alice")
    b = login("bob")
    call(a, "bob")
    expect_ringing(b, "alice")
    hear(b, *CLASSIC_HZ)
    status.user_status_set(user=bob, status="dnd")  # bob's phone, say
    # this tab reads the status again when it comes back into view
    b.evaluate("document.dispatchEvent(new Event('visibilitychange'))")
    expect(b.locator("body")).to_have_attribute("data-ringing", "quiet")
    expect(b.locator("#incoming")).to_be_hidden()
    expect_playing(b, [])
    expect(b.locator("#quiet-count")).to_have_text("1")
    expect(b.locator("#status-pill")).to_have_text("Do not disturb")


def test_dnd_ends_by_itself_at_its_time(login, site, alice, bob):
    b = login("bob")
    # set elsewhere (another device, over the API) to end in a few seconds
    from django.test import Client

    client = Client()
    client.force_login(bob)
    until = ms(timezone.now()) + 6000
    answer = client.put(
        "/api/me/status", json.dumps({"status": "dnd", "until": until}), content_type="application/json"
    )
    assert answer.json() == {"status": "dnd", "until": until}
    # the tab reads the status when it comes back into view (and on each connection)
    b.evaluate("document.dispatchEvent(new Event('visibilitychange'))")
    expect(b.locator("#status-pill")).to_contain_text("Do not disturb until")
    # nobody touches anything: at `until` the page reads the status again
    expect(b.locator("#status-pill")).to_have_text("Available", timeout=20000)
    expect(b.locator("#status-pill")).to_have_attribute("data-status", "available")
    a = login("alice")
    call(a, "bob")
    expect_ringing(b, "alice")
    hear(b, *CLASSIC_HZ)
