"""People who go away, leave or hang up, and calls missed elsewhere, in real Chromium
pages against a real daphne and rqworker: what each person sees."""

import time

import pytest
from playwright.sync_api import expect

from invitations.calls.states import CallState
from invitations.calls.states import CallUserState as S
from invitations.models import Call, CallUser
from tests.browser.test_call_page import call, expect_ringing, member

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

AWAY_SECONDS = 2


@pytest.fixture
def quick_away(monkeypatch):
    """The site (started after this) drops a member whose call device is away for 2 s."""
    monkeypatch.setenv("CALL_HEARTBEAT_TIMEOUT_SECONDS", str(AWAY_SECONDS))


def in_call(a, b, *, mode="1"):
    call(a, "bob", mode=mode)
    expect_ringing(b, "alice")
    b.click("#incoming-accept")
    expect(a.locator("#incall")).to_be_visible()
    expect(b.locator("#incall")).to_be_visible()


def in_three_way_call(a, b, c):
    """alice calls bob and carol, and both answer."""
    call(a, "bob", "carol")
    expect_ringing(b, "alice")
    b.click("#incoming-accept")
    expect_ringing(c, "alice")
    c.click("#incoming-accept")
    expect(member(a, "incall", "carol")).to_contain_text("In call")


def wait_until(predicate, what: str, timeout: float = 20) -> None:
    deadline = time.time() + timeout
    while not predicate():
        if time.time() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.2)


def test_other_side_closing_the_window_ends_the_call(quick_away, login, alice, bob):
    """bob closes his browser in an advanced call: once the server has waited for him, alice is
    told and the two-person call ends for her too."""
    a, b = login("alice"), login("bob")
    in_call(a, b)
    closed = time.time()
    b.context.close()
    expect(a.locator("#toasts")).to_contain_text("bob left (connection lost) · call ended")
    expect(a.locator("#idle")).to_be_visible()
    print(
        f"\nbob's window closed -> alice told and the call ended: {time.time() - closed:.1f} s "
        f"(away timeout {AWAY_SECONDS} s)"
    )
    [row] = Call.objects.all()
    assert row.state == CallState.ENDED
    assert CallUser.objects.get(user=bob).reason == "offline"


def test_both_windows_closed_then_back_can_call_again(quick_away, login, alice, bob):
    a, b = login("alice"), login("bob")
    in_call(a, b)
    a.context.close()
    b.context.close()
    wait_until(lambda: Call.objects.filter(state=CallState.ENDED).exists(), "the call ended on the server")
    a = login("alice")
    expect(a.locator("#stage-title")).to_have_text("No call right now")
    expect(a.locator("#elsewhere")).to_be_hidden()
    b = login("bob")
    call(a, "bob")  # not "You are already in a call"
    expect(a.locator("#outgoing")).to_be_visible()
    expect_ringing(b, "alice")


def test_back_on_the_page_shows_the_call_still_going(login, alice, bob):
    """alice closes her window and opens the site again at once (the server still counts her in):
    the page shows the call from the server, and Leave ends it for bob as well."""
    a, b = login("alice"), login("bob")
    in_call(a, b)
    a.context.close()
    a = login("alice")  # a new browser context: nothing remembered locally
    expect(a.locator("#elsewhere")).to_be_visible()
    expect(a.locator("#elsewhere-with")).to_have_text("bob")
    expect(a.get_by_role("button", name="Rejoin here")).to_be_visible()
    expect(a.get_by_role("button", name="End for everyone")).to_be_visible()
    a.get_by_role("button", name="Leave", exact=True).click()
    expect(a.locator("#elsewhere")).to_be_hidden()
    expect(b.locator("#toasts")).to_contain_text("alice left · call ended")
    expect(b.locator("#idle")).to_be_visible()
    # the page sends Leave without waiting for its answer: the server's end may still be on its way
    wait_until(lambda: Call.objects.get().state == CallState.ENDED, "the call ended on the server")


def test_back_on_the_page_rejoins(login, alice, bob):
    a, b = login("alice"), login("bob")
    in_call(a, b)
    a.context.close()
    a = login("alice")
    a.get_by_role("button", name="Rejoin here").click()
    expect(a.locator("#incall")).to_be_visible()
    expect(a.locator("#incall-title")).to_have_text("In call with bob")
    expect(member(b, "incall", "alice")).to_contain_text("In call")


def test_group_call_someone_leaves_then_alone(login, alice, bob, carol):
    a, b, c = login("alice"), login("bob"), login("carol")
    in_three_way_call(a, b, c)
    expect(a.locator('#media-tiles [data-tile="bob"]')).to_have_count(1)
    b.click("#incall-quit")
    expect(a.locator("#toasts")).to_contain_text("bob left")
    expect(a.locator('#media-tiles [data-tile="bob"]')).to_have_count(0)
    expect(c.locator("#toasts")).to_contain_text("bob left")
    expect(member(a, "incall", "bob")).to_contain_text("Left")
    expect(a.locator("#incall-title")).to_have_text("In call with carol")
    c.click("#incall-quit")
    expect(a.locator("#incall-title")).to_have_text("Everyone else left")
    expect(a.locator("#incall-note")).to_contain_text("You are the only one left")
    a.click("#incall-end")
    expect(a.locator("#idle")).to_be_visible()
    assert Call.objects.get().state == CallState.ENDED


def test_general_mode_hang_up_ends_it_for_the_other_side(login, alice, bob):
    a, b = login("alice"), login("bob")
    in_call(a, b, mode="0")
    b.click("#incall-hangup")
    expect(b.locator("#idle")).to_be_visible()
    expect(a.locator("#toasts")).to_contain_text("bob left (hung up) · call ended")
    expect(a.locator("#idle")).to_be_visible()


def test_missed_while_signed_out_shows_on_sign_in(login, alice, bob):
    """A call bob missed while no page of his was open: his Missed calls panel has it when he
    signs in (from the server), with a count, and Call back clears it."""
    a = login("alice")
    a.locator('li[data-user="bob"]').wait_for()
    a.click('label[for="pick-bob"]')
    a.select_option("#call-mode", "0")
    a.fill("#call-timeout", "3")
    a.click("#call-start")
    expect(a.locator("#toasts")).to_contain_text("Nobody answered: bob did not answer.")
    assert CallUser.objects.get(user=bob).state == S.TIMEOUT
    b = login("bob")
    missed = b.locator('#missed-list .missed-item[data-caller="alice"]')
    expect(missed).to_contain_text("no answer")
    expect(b.locator("#missed-count")).to_have_text("1")
    other_device = login("bob")  # its own storage: the list comes from the server
    expect(other_device.locator('#missed-list .missed-item[data-caller="alice"]')).to_contain_text("no answer")
    other_device.context.close()
    missed.get_by_role("button", name="Call alice back").click()
    expect_ringing(a, "bob")
    expect(missed).to_have_count(0)
    expect(b.locator("#missed-count")).to_be_hidden()


def test_back_after_being_away_too_long_leaves_the_stage(quick_away, login, alice, bob, carol):
    """alice's network drops for longer than the server waits, in a three-person call: the others
    are told, and when her page reconnects it leaves the call it was taken out of. (The server
    notices the silent socket by Daphne's WebSocket ping: within 15 s with the browser tests' site.)"""
    a, b, c = login("alice"), login("bob"), login("carol")
    in_three_way_call(a, b, c)
    a.context.set_offline(True)
    expect(b.locator("#toasts")).to_contain_text("alice left (connection lost)", timeout=70000)
    expect(member(c, "incall", "alice")).to_contain_text("Went offline")
    a.context.set_offline(False)
    expect(a.locator("#toasts")).to_contain_text("You were away too long and left the call")
    expect(a.locator("#idle")).to_be_visible()
