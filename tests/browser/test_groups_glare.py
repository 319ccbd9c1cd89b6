"""Groups and glare in a real Chromium: a group call from the groups panel with a late
joiner, two people calling each other at once (glare), Dismiss on one tab,
"rings until answered", the quiet call-waiting banner, and ringing again a
member who declined. Real daphne + rqworker; states are read from the page."""

import pytest
from django.core.management import call_command
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import expect

from invitations.calls.states import CallUserState as S
from invitations.models import Call, CallUser
from tests.browser.test_call_page import (
    call,
    expect_not_ringing,
    expect_ringing,
    member,
)

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def scroll_to(locator):
    """The groups panel is drawn again on every change of the stage: an element
    found a moment ago can be replaced before the scroll, so look it up again."""
    for _ in range(10):
        try:
            locator.scroll_into_view_if_needed(timeout=5000)
            return
        except PlaywrightError as error:
            if "not attached" not in str(error):
                raise
    locator.scroll_into_view_if_needed()


def group_item(page, group_id):
    return page.locator(f'#group-list li[data-group="{group_id}"]')


def test_group_call_from_the_panel_and_a_late_join(login, shoot, make_user, alice, bob, carol, dave):
    make_user("erin")  # in the group, never online: not rung (onlineUserOnly)
    call_command("group_add", "team", "--name", "Team", "--members", "alice", "bob", "carol", "dave", "erin")
    a, b, c, d = login("alice"), login("bob"), login("carol"), login("dave")
    team = group_item(a, "team")
    expect(team).to_contain_text("Team")
    expect(team).to_contain_text("3 of 4 others online")
    scroll_to(team)
    shoot(a, "11-groups-panel")
    team.get_by_role("button", name="Call everyone online in Team").click()
    expect(a.locator("#toasts")).to_contain_text("erin was not invited (user offline)")
    for page in (b, c, d):
        expect_ringing(page, "alice")
    call_id = Call.objects.get().call_id
    assert Call.objects.get().group.group_id == "team"
    b.click("#incoming-accept")
    c.click("#incoming-accept")
    d.click("#incoming-reject")  # dave declines now ...
    expect_not_ringing(d)
    expect(a.locator("#incall")).to_be_visible()
    # ... and joins later from the group's running calls
    running = group_item(d, "team").locator(f'.group-call[data-call-id="{call_id}"]')
    expect(running).to_contain_text("alice's video call")
    scroll_to(running)
    shoot(d, "12-group-running-call")
    running.get_by_role("button", name="Join alice's call").click()
    expect(d.locator("#incall")).to_be_visible()
    for page in (a, b, c, d):
        expect(member(page, "incall", "dave")).to_contain_text("In call")
    expect(a.locator("#incall-members li")).to_have_count(4)
    assert CallUser.objects.get(call__call_id=call_id, user=dave).state == S.ACCEPTED


def test_pick_members_of_a_group(login, alice, bob, carol, dave):
    call_command("group_add", "pair", "--name", "Pair", "--members", "alice", "carol")
    a, _, c = login("alice"), login("bob"), login("carol")
    group_item(a, "pair").get_by_role("button", name="Pick members of Pair").click()
    expect(a.locator("#group-picked")).to_contain_text("Picking from Pair")
    expect(a.locator('#user-list li[data-user="bob"]')).to_have_count(0)  # not in the group
    a.locator('li[data-user="carol"][data-online="1"]').wait_for()
    a.click('label[for="pick-carol"]')
    a.click("#call-start")
    expect_ringing(c, "alice")
    assert Call.objects.get().group.group_id == "pair"


def test_calling_each_other_at_once_makes_one_call(login, alice, bob):
    a, b = login("alice"), login("bob")
    for page, other in ((a, "bob"), (b, "alice")):
        page.locator(f'li[data-user="{other}"][data-online="1"]').wait_for()
        page.click(f'label[for="pick-{other}"]')
    # both press Call in the same instant (no await between the two clicks)
    a.evaluate("document.querySelector('#call-start').click()")
    b.evaluate("document.querySelector('#call-start').click()")
    for page, other in ((a, "bob"), (b, "alice")):
        expect(page.locator("#incall")).to_be_visible()
        expect(member(page, "incall", other)).to_contain_text("In call")
        expect_not_ringing(page)
    assert Call.objects.count() == 1
    assert sorted(CallUser.objects.values_list("state", flat=True)) == [S.ACCEPTED, S.ACCEPTED]


def test_dismiss_keeps_the_other_tab_ringing(login, alice, bob):
    a = login("alice")
    b1 = login("bob")
    b2 = login("bob", context=b1.context)
    call(a, "bob")
    expect_ringing(b1, "alice")
    expect_ringing(b2, "alice")
    b1.click("#incoming-dismiss")
    expect_not_ringing(b1)
    expect(b1.locator("#toasts")).to_contain_text("still rings on your other devices")
    expect_ringing(b2, "alice")  # still ringing there, the invitation still open
    expect(member(a, "outgoing", "bob")).to_contain_text("Ringing")
    b2.click("#incoming-reject")  # Reject declines everywhere
    expect_not_ringing(b2)
    expect(a.locator("#toasts")).to_contain_text("Nobody answered: bob declined.")


def test_rings_until_answered_without_a_countdown(login, alice, bob):
    a, b = login("alice"), login("bob")
    a.locator('li[data-user="bob"][data-online="1"]').wait_for()
    a.click('label[for="pick-bob"]')
    a.check("#call-until-answered")
    expect(a.locator("#call-timeout")).to_be_disabled()
    a.click("#call-start")
    expect(a.locator("#outgoing-kind")).to_contain_text("rings until answered")
    expect_ringing(b, "alice")
    expect(b.locator("#incoming-countdown")).to_have_text("Rings until answered")
    assert CallUser.objects.get(user=bob).deadline is None
    b.click("#incoming-accept")
    expect(a.locator("#incall")).to_be_visible()


def test_call_waiting_banner_and_ring_again(login, alice, bob, carol):
    a, b, c = login("alice"), login("bob"), login("carol")
    call(a, "bob", "carol")
    expect_ringing(b, "alice")
    expect_ringing(c, "alice")
    b.click("#incoming-accept")
    c.click("#incoming-reject")
    expect(member(a, "incall", "carol")).to_contain_text("Declined")
    # one click rings carol again (callingInvite)
    member(a, "incall", "carol").get_by_role("button", name="Ring carol again").click()
    expect_ringing(c, "alice")
    c.click("#incoming-accept")
    expect(member(a, "incall", "carol")).to_contain_text("In call")
    c.click("#incall-quit")
    expect(c.locator("#idle")).to_be_visible()
    # carol calls bob, who is in a call with alice: a quiet banner, no ringing dialog
    call(c, "bob")
    expect(b.locator("#call-waiting")).to_be_visible()
    expect(b.locator("#call-waiting-caller")).to_have_text("carol")
    expect(b.locator("body")).to_have_attribute("data-ringing", "quiet")
    expect(b.locator("#incoming")).to_be_hidden()
    b.click("#call-waiting-answer")  # Leave & answer
    expect(b.locator("#call-waiting")).to_be_hidden()
    expect(member(b, "incall", "carol")).to_contain_text("In call")
    expect(member(a, "incall", "bob")).to_contain_text("Left")


def test_missed_call_shows_who_answered_and_how_long(login, alice, bob, carol):
    import re

    a, b, c = login("alice"), login("bob"), login("carol")
    call(a, "bob", "carol", timeout=3)
    expect_ringing(b, "alice")
    b.click("#incoming-accept")
    missed = c.locator('#missed-list .missed-item[data-caller="alice"]')
    expect(missed).to_contain_text("no answer")  # carol's invitation timed out
    expect(missed.locator(".missed-detail")).to_contain_text("answered by bob · still going")
    a.click("#incall-end")
    c.reload()  # the page re-reads its missed calls when it connects
    expect(missed.locator(".missed-detail")).to_have_text(re.compile(r"answered by bob · \d+:\d\d$"))
