"""Sign-out takes the browser's push subscription with it (templates/base.html,
static/js/signout.js, invitations/web/pages.py SignOutView), in a real Chromium.

Headless Chromium has no push service, so it never gives a page a PushSubscription
(pushManager.subscribe() does not settle; see test_push_notifications.py). The
browser's half is therefore a stand-in: an init script makes
`PushManager.prototype.getSubscription()` answer a subscription object, kept in
localStorage, whose `unsubscribe()` drops it. Everything else is real: the page
posts it to the server as for a real one, and the server rows are checked.
"""

import time
import uuid

import pytest
from playwright.sync_api import expect

from invitations.models import PushSubscription
from tests.browser.conftest import TIMEOUT_MS
from tests.conftest import PASSWORD
from tests.fakes.push_service import Subscriber

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SUBSCRIPTION_KEY = "test.pushSubscription"
STAND_IN = f"""(() => {{
  const KEY = "{SUBSCRIPTION_KEY}";
  const wrap = (json) => ({{
    endpoint: json.endpoint, expirationTime: null, options: {{ userVisibleOnly: true, applicationServerKey: null }},
    toJSON: () => json,
    unsubscribe: async () => {{ localStorage.removeItem(KEY); return true; }},
  }});
  PushManager.prototype.getSubscription = async function () {{
    const saved = localStorage.getItem(KEY);
    return saved ? wrap(JSON.parse(saved)) : null;
  }};
}})();"""


def subscribed(page) -> str:
    """Give the browser a subscription; the page (reloaded) stores it on the server. Its endpoint."""
    # a host of the default CALL_PUSH_ENDPOINT_HOSTS: nothing is pushed in these tests
    subscription = Subscriber(f"https://fcm.googleapis.com/fcm/send/{uuid.uuid4().hex}").subscription()
    page.context.add_init_script(STAND_IN)
    page.evaluate("([key, s]) => localStorage.setItem(key, JSON.stringify(s))", [SUBSCRIPTION_KEY, subscription])
    page.reload()
    page.wait_for_selector("#conn-state[data-state=connected]")
    page.click(".settings summary")
    expect(page.locator("#push-ring")).to_be_checked()
    endpoint = subscription["endpoint"]
    wait_rows(endpoint, 1, "the page did not store the subscription")
    return endpoint


def wait_rows(endpoint: str, count: int, what: str) -> None:
    """The page's POST is fire-and-forget: poll the server's rows."""
    deadline = time.time() + TIMEOUT_MS / 1000
    while PushSubscription.objects.filter(endpoint=endpoint).count() != count:
        assert time.time() < deadline, what
        time.sleep(0.1)


def browser_subscription(page):
    return page.evaluate("key => localStorage.getItem(key)", SUBSCRIPTION_KEY)


def sign_out(page, site) -> None:
    page.click('form[action="/logout/"] button')
    page.wait_for_url(f"{site.base}/login/")


def sign_in(page, site, username: str) -> None:
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{site.base}/")
    page.wait_for_selector("#conn-state[data-state=connected]")


def test_sign_out_unsubscribes_so_the_next_user_of_the_browser_is_not_rung_for_the_last(login, site, bob, carol):
    page = login("bob")
    endpoint = subscribed(page)
    assert PushSubscription.objects.get(endpoint=endpoint).user == bob

    sign_out(page, site)
    assert not PushSubscription.objects.filter(endpoint=endpoint).exists()
    assert browser_subscription(page) is None  # PushSubscription.unsubscribe() was called

    # carol signs in on the same browser: it has no subscription left to ring her, or bob
    sign_in(page, site, "carol")
    page.click(".settings summary")
    expect(page.locator("#push-ring")).not_to_be_checked()
    assert not PushSubscription.objects.exists()


def test_when_the_pages_delete_fails_the_sign_out_form_still_removes_the_row(login, site, bob):
    page = login("bob")
    endpoint = subscribed(page)
    page.route(
        "**/api/push/subscriptions",
        lambda route: route.abort() if route.request.method == "DELETE" else route.continue_(),
    )
    sign_out(page, site)
    assert not PushSubscription.objects.filter(endpoint=endpoint).exists()  # by the form's push_endpoint
    assert browser_subscription(page) is None


def test_sign_out_works_without_javascript(browser, site, bob):
    context = browser.new_context(java_script_enabled=False, base_url=site.base)
    context.set_default_timeout(TIMEOUT_MS)
    try:
        page = context.new_page()
        page.goto("/login/")
        page.fill("#id_username", "bob")
        page.fill("#id_password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{site.base}/")
        sign_out(page, site)
        page.goto("/")
        page.wait_for_url(f"{site.base}/login/?next=/")  # signed out: the call page asks to sign in
    finally:
        context.close()
