"""The call kit on an app's page (examples/host-app on its own origin) in Chinese:
CallKit.init with config.language "zh-Hans" loads the site's catalog cross-origin (the
app's registered origin reads /api/i18n/zh-Hans/), draws the kit in Chinese and keeps
config.words winning over single sentences; the caller's kit, in English, stays English.
Real Chromium, daphne, worker, PostgreSQL and Redis."""

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import TIMEOUT_MS
from tests.browser.pagetext import english_words
from tests.browser.test_callkit import ANN, BOB, HostApp, send

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

INIT = """async ([site, token, user, config]) => {
  const { CallKit } = await import(`${site}/static/callkit/callkit.js`);
  window.callkit = await CallKit.init({ server: site, token, userID: user.userID, userName: user.userName, config });
  return window.callkit.state;
}"""


@pytest.fixture
def host_app(site, process_logs):
    host = HostApp("App A", site.base, process_logs)
    yield host
    host.proc.stop()


def test_the_kit_speaks_chinese_when_the_app_asks(site, host_app, browser, shoot):
    contexts = []

    def page_of(user: dict, config: dict):
        context = browser.new_context(viewport={"width": 1100, "height": 760}, permissions=["microphone", "camera"])
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        page.goto(host_app.base + "/")
        # the kit straight from the app's script, as docs/embedding.md shows it
        assert page.evaluate(INIT, [site.base, host_app.token(user), user, config]) == "connected"
        return page

    try:
        bob = page_of(BOB, {"language": "zh-Hans", "words": {"Reject": "不接"}})
        ann = page_of(ANN, {"language": "en"})
        send(ann, BOB, 0)  # a voice call
        expect(bob.locator("#incoming")).to_be_visible()
        expect(bob.locator("#incoming-title")).to_have_text(f"{ANN['userName']} 来电")
        expect(bob.locator("#incoming-kind")).to_have_text("语音来电")
        expect(bob.locator("#incoming-accept")).to_have_text("✓ 接听")
        expect(bob.locator("#incoming-reject")).to_have_text("✕ 不接")  # the app's own word wins
        expect(bob.locator("#incoming-countdown")).to_contain_text("还将振铃")
        expect(bob.locator("call-kit")).to_have_attribute("lang", "zh-Hans")
        # nothing in the kit is English (the host page around it is the app's own, in English)
        leaks = english_words(bob, {"Ann", "Lee"}, within="call-kit")  # Ann_Lee, a name
        assert not leaks, "\n".join(leaks)
        shoot(bob, "callkit-chinese")
        # the caller's kit asked for English
        expect(ann.locator("#outgoing-title")).to_contain_text("Calling")
        bob.click("#incoming-accept")
        expect(bob.locator("#incall")).to_be_visible()
        expect(bob.locator("#incall-title")).to_contain_text("正在与")
        expect(bob.locator("#incall-hangup")).to_have_text("挂断")
    finally:
        for context in contexts:
            context.close()
