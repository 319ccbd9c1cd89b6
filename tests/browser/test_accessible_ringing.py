"""Ringing that everyone can answer, in real Chromium:

- axe-core (node_modules/axe-core, from package.json) injected into the page finds no serious
  or critical violation on the call page, with the incoming dialog open (axe reads the kit's
  open shadow root), in a call, and on the /calls/ pages, in English and in Chinese;
- the incoming dialog is an alertdialog named by its title and described by the call's kind
  and who else is invited; it takes the focus when it opens and gives it back when it closes;
- Alt+Shift+A accepts and Alt+Shift+D declines, but never from a text field: typing goes on.
"""

import shutil
import subprocess

import pytest
from playwright.sync_api import expect

from tests.browser.test_call_page import call, expect_not_ringing, expect_ringing
from tests.browser.test_dnd import set_status
from tests.processes import ROOT

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"

AXE_RUN = """async () => {
  const result = await axe.run(document, { resultTypes: ["violations"] });
  return result.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => ({ id: v.id, impact: v.impact, help: v.help,
                   nodes: v.nodes.slice(0, 5).map((n) => `${n.target.join(" >> ")}: ${n.failureSummary}`) }));
}"""


def serious_violations(page) -> list[dict]:
    if not page.evaluate("typeof axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    return page.evaluate(AXE_RUN)


def assert_accessible(page, where: str) -> None:
    violations = serious_violations(page)
    assert not violations, f"axe on {where}:\n" + "\n".join(
        f"{v['impact']} {v['id']} ({v['help']}):\n  " + "\n  ".join(v["nodes"]) for v in violations
    )


def focused(page) -> str:
    """The id of the focused element, inside the kit's shadow root too."""
    return page.evaluate(
        """() => { let el = document.activeElement;
                   while (el && el.shadowRoot && el.shadowRoot.activeElement) el = el.shadowRoot.activeElement;
                   return el ? el.id : null; }"""
    )


@pytest.fixture(scope="module", autouse=True)
def axe_installed():
    """axe-core comes with the JavaScript tools (package.json); a node_modules made before it
    was added gets it from `npm ci` here, as tests/site/test_js_tools.py does for ESLint."""
    if not AXE.exists():
        npm = shutil.which("npm")
        assert npm, f"{AXE} is missing and npm is not installed (scripts/test installs Debian's npm)"
        done = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"], cwd=ROOT, capture_output=True, text=True, timeout=600
        )
        assert done.returncode == 0 and AXE.exists(), done.stdout + done.stderr


def test_axe_finds_nothing_serious_on_the_call_page_the_dialog_and_my_calls(login, shoot, alice, bob):
    a = login("alice")
    b = login("bob")
    b.click(".settings summary")
    assert_accessible(b, "the call page, idle, settings open")

    call(a, "bob")
    expect_ringing(b, "alice")
    assert_accessible(b, "the call page with the incoming dialog open")
    assert_accessible(a, "the caller's outgoing view")
    b.click("#incoming-accept")
    expect_not_ringing(b)
    expect(b.locator("#incall")).to_be_visible()
    expect(b.locator('#incall-members [data-member="alice"]')).to_contain_text("In call")
    assert_accessible(b, "the call page in a call")
    b.click("#incall-end")
    expect(b.locator("#incall")).to_be_hidden()

    b.goto("/calls/")
    expect(b.locator(".call-row")).to_have_count(1)
    assert_accessible(b, "My calls")
    b.locator(".call-who").first.click()
    expect(b.locator(".timeline")).to_be_visible()
    assert_accessible(b, "a call's story")

    # the same in Chinese (other words, other widths)
    b.goto("/")
    b.click(".settings summary")
    b.select_option("#language-choice", "zh-hans")
    expect(b.locator("html")).to_have_attribute("lang", "zh-hans")
    call(a, "bob")
    expect_ringing(b, "alice")
    assert_accessible(b, "the call page in Chinese with the incoming dialog open")
    b.goto("/calls/")
    assert_accessible(b, "My calls in Chinese")


def test_the_dialog_is_announced_takes_the_focus_and_gives_it_back(login, shoot, alice, bob):
    a = login("alice")
    b = login("bob")
    b.focus("#pick-alice")  # a checkbox: not a text field
    call(a, "bob", kind="voice")
    expect_ringing(b, "alice")
    dialog = b.locator("#incoming")
    expect(dialog).to_have_attribute("role", "alertdialog")
    expect(dialog).to_have_attribute("aria-modal", "true")
    # its name is the title, its description the kind and who else is invited
    assert b.evaluate(
        """() => { const root = document.querySelector("call-kit").shadowRoot;
                   const text = (ids) => ids.split(" ").map((id) => root.getElementById(id).textContent.trim()).join(" | ");
                   const d = root.getElementById("incoming");
                   return [text(d.getAttribute("aria-labelledby")), text(d.getAttribute("aria-describedby"))]; }"""
    ) == ["alice is calling", "Incoming voice call | Only you are invited"]
    # Playwright's accessibility tree: the same name and role
    expect(b.get_by_role("alertdialog", name="alice is calling")).to_be_visible()
    # the keys are shown in the dialog and named on its buttons
    expect(b.locator("#incoming-keys")).to_have_text("Keys: Alt+Shift+A accepts, Alt+Shift+D declines")
    expect(b.locator("#incoming-accept")).to_have_attribute("aria-keyshortcuts", "Alt+Shift+A")
    expect(b.locator("#incoming-reject")).to_have_attribute("aria-keyshortcuts", "Alt+Shift+D")
    shoot(b, "ringing-keys")
    # the focus moved into the dialog (on Accept: the person was not typing)
    assert focused(b) == "incoming-accept"
    # Alt+Shift+D declines, and the focus goes back where it was
    b.keyboard.press("Alt+Shift+KeyD")
    expect_not_ringing(b)
    expect(a.locator("#outgoing")).to_be_hidden()  # declined: the call closed
    assert focused(b) == "pick-alice"

    # typing in the search box when a call comes: the dialog itself takes the focus (the next
    # key typed does not answer), and gives it back to the search box after Alt+Shift+A
    b.click("#user-search")
    b.keyboard.type("al")
    call(a, "bob", kind="voice")
    expect_ringing(b, "alice")
    assert focused(b) == "incoming"
    b.keyboard.press("Space")
    expect(b.locator("#incoming")).to_be_visible()  # a key typed on does not answer
    b.keyboard.press("Alt+Shift+KeyA")
    expect_not_ringing(b)
    expect(b.locator("#incall")).to_be_visible()
    expect(b.locator('#incall-members [data-member="bob"]')).to_contain_text("In call")


def test_the_answer_keys_do_nothing_while_typing(login, alice, bob):
    a = login("alice")
    b = login("bob")
    # do not disturb: the call waits in a banner (no modal dialog), so the search box keeps the focus
    set_status(b, "off")
    expect(b.locator("#status-pill")).to_have_attribute("data-status", "dnd")
    b.click("#user-search")
    call(a, "bob", kind="voice")
    expect(b.locator("#call-waiting")).to_be_visible()
    b.keyboard.press("Alt+Shift+KeyA")
    b.keyboard.press("Alt+Shift+KeyD")
    b.wait_for_timeout(1000)
    expect(b.locator("#call-waiting")).to_be_visible()  # neither key answered from the text field
    expect(a.locator('#outgoing-members [data-member="bob"]')).to_contain_text("Ringing")
    # out of the text field, Alt+Shift+A answers the call waiting
    b.evaluate("document.activeElement.blur()")
    b.keyboard.press("Alt+Shift+KeyA")
    expect(b.locator("#call-waiting")).to_be_hidden()
    expect(b.locator("#incall")).to_be_visible()
    expect(member_state(a, "bob")).to_contain_text("In call")


def member_state(page, name):
    return page.locator(f'#incall-members [data-member="{name}"]')
