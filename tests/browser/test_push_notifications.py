"""The service worker (static/sw.js) in a real Chromium.

Headless Chromium has no push service, so pushManager.subscribe() is never
awaited here; a push is handed to the worker through the DevTools protocol
(`ServiceWorker.deliverPushMessage`), as a push service would after
decryption, and the notification is read back with
`registration.getNotifications()`.
"""

import json
import time

import pytest
from playwright.sync_api import expect

from invitations.calls.states import CallUserState
from invitations.models import CallUser

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

NOTIFICATIONS = """async (tag) => {
  const r = await navigator.serviceWorker.ready;
  return (await r.getNotifications(tag ? {tag} : {})).map(n => ({
    tag: n.tag, title: n.title, body: n.body, requireInteraction: n.requireInteraction,
    actions: n.actions.map(a => a.action), data: n.data}));
}"""


# Records, in the worker, each notification it shows (showNotification is still called):
# headless Chromium removes a notification without requireInteraction 25 s after showing
# it, so the poll alone can miss one when the test is held up that long.
RECORD_SHOWN = """() => {
  if (self.shownInTest) return;
  self.shownInTest = [];
  const show = ServiceWorkerRegistration.prototype.showNotification;
  ServiceWorkerRegistration.prototype.showNotification = function (title, options = {}) {
    self.shownInTest.push({tag: options.tag, title, body: options.body,
      requireInteraction: Boolean(options.requireInteraction), actions: (options.actions || []).map(a => a.action)});
    return show.call(this, title, options);
  };
}"""


class PushDriver:
    """Delivers pushes to the page's service-worker registration over CDP."""

    def __init__(self, page, base: str) -> None:
        self.page = page
        self.origin = base
        self.registrations: dict[str, str] = {}
        self.cdp = page.context.new_cdp_session(page)
        self.cdp.on("ServiceWorker.workerRegistrationUpdated", self._updated)
        self.cdp.send("ServiceWorker.enable")
        page.evaluate("navigator.serviceWorker.ready.then(() => true)")
        self._wait(lambda: self.registration_id() is not None, "the root registration")

    def _updated(self, event) -> None:
        for registration in event["registrations"]:
            if not registration.get("isDeleted"):
                self.registrations[registration["scopeURL"]] = registration["registrationId"]

    def registration_id(self) -> str | None:
        return self.registrations.get(self.origin + "/")

    def _workers(self):
        return [w for w in self.page.context.service_workers if w.url == self.origin + "/sw.js"]

    def _record_shown(self) -> None:
        for worker in self._workers():
            try:
                worker.evaluate(RECORD_SHOWN)
            except Exception:  # noqa: BLE001 - a worker that stopped meanwhile: the next one records
                pass

    def shown(self, tag: str) -> list[dict]:
        """The notifications with that tag the worker showed (since this driver, while it lives)."""
        records = []
        for worker in self._workers():
            try:
                records += worker.evaluate("tag => (self.shownInTest || []).filter(n => n.tag === tag)", tag)
            except Exception:  # noqa: BLE001
                pass
        return records

    def push(self, message: dict) -> None:
        self._record_shown()
        self.cdp.send(
            "ServiceWorker.deliverPushMessage",
            {"origin": self.origin, "registrationId": self.registration_id(), "data": json.dumps(message)},
        )

    def notifications(self, tag: str | None = None) -> list[dict]:
        return self.page.evaluate(NOTIFICATIONS, tag)

    def wait_notifications(
        self,
        predicate,
        what: str,
        tag: str | None = None,
        *,
        redeliver: dict | None = None,
    ) -> list[dict]:
        """Wait until predicate(notifications) holds. With `redeliver`, that push is sent again every
        few seconds meanwhile: a freshly launched headless Chromium drops the first push the DevTools
        protocol hands it (seen every time on the first test of a browser, never later)."""
        found: list[dict] = []
        last = time.time()

        def check() -> bool:
            nonlocal found, last
            found = self.notifications(tag)
            if not predicate(found) and redeliver is not None and time.time() - last > 3:
                self.push(redeliver)
                last = time.time()
            return predicate(found)

        try:
            self._wait(check, what)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; notifications shown: {[n.get('tag') for n in found]}") from None
        return found

    def _wait(self, condition, what: str, timeout: float = 45) -> None:
        deadline = time.time() + timeout
        while not condition():
            if time.time() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            self.page.wait_for_timeout(100)


def service_worker_ready(page) -> None:
    """The page registers /sw.js itself; wait until it controls the root scope."""
    page.evaluate(
        "navigator.serviceWorker.getRegistration('/').then(r => r || navigator.serviceWorker.register('/sw.js'))"
    )
    # ready resolves while the worker is still "activating"; a push then can be lost
    page.evaluate("""async () => {
      const registration = await navigator.serviceWorker.ready;
      while (registration.active.state !== "activated") await new Promise((ok) => setTimeout(ok, 50));
    }""")


def invitation_push(call_id: str, *, caller="alice", video=True, deadline_in_ms=60_000) -> dict:
    return {
        "event": "callInvitationReceived",
        "data": {
            "callID": call_id,
            "caller": caller,
            "inviter": caller,
            "mode": 0,
            "timeout": 60,
            "deadline": int(time.time() * 1000) + deadline_in_ms,
            "extendedData": json.dumps({"type": "video" if video else "voice"}),
        },
        "title": f"{caller} is calling",
        "body": "Video call" if video else "Voice call",
    }


def test_a_push_shows_the_call_notification_and_the_closing_push_closes_it(login, site, bob):
    page = login("bob")
    service_worker_ready(page)
    driver = PushDriver(page, site.base)

    first = invitation_push("call-one")
    driver.push(first)
    [shown] = driver.wait_notifications(lambda ns: len(ns) == 1, "the notification", tag="call-one", redeliver=first)
    assert shown["title"] == "alice is calling"
    assert shown["body"] == "Video call"
    assert shown["requireInteraction"] is True
    assert shown["actions"] == ["accept", "reject"]
    assert shown["data"]["callID"] == "call-one" and shown["data"]["video"] is True

    # a push can be lost on a loaded machine (the worker busy starting): each is sent again
    # until it shows, which is harmless since a notification with the same tag replaces it
    second = invitation_push("call-two", caller="carol", video=False)
    driver.push(second)
    driver.wait_notifications(lambda ns: len(ns) == 2, "two notifications", redeliver=second)

    closing = {"event": "callInvitationClosed", "data": {"callID": "call-one", "state": 2, "reason": "declined"}}
    driver.push(closing)
    left = driver.wait_notifications(
        lambda ns: [n["tag"] for n in ns] == ["call-two"], "call-one closed", redeliver=closing
    )
    assert left[0]["body"] == "Voice call"

    # cancelled by the caller: the ringing notification goes, a quiet missed-call one stays (until
    # headless Chromium removes it by itself, 25 s later: so what the worker showed is read too)
    cancelled = {"event": "callInvitationClosed", "data": {"callID": "call-two", "state": 3, "reason": "caller_cancel"}}
    driver.push(cancelled)
    driver.wait_notifications(
        lambda ns: [n["tag"] for n in ns] in (["missed-call-two"], []) and driver.shown("missed-call-two"),
        "call-two missed",
        redeliver=cancelled,
    )
    missed = driver.shown("missed-call-two")[0]
    assert missed["title"] == "Missed call from carol" and missed["requireInteraction"] is False
    assert missed["actions"] == []


def test_an_invitation_is_worded_in_the_invitees_language_unless_the_caller_gave_its_text(login, site, bob):
    page = login("bob")
    page.locator("details.settings > summary").click()
    page.select_option("#language-choice", "zh-hans")  # the page sends the form on change
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    service_worker_ready(page)
    # the page hands its worker the notifications' words in its language
    page.wait_for_function(
        """async () => { const saved = await (await caches.open("callsite-sw")).match("/sw-state/words");
        return Boolean(saved) && (await saved.json()).videoCall === "视频通话"; }"""
    )
    driver = PushDriver(page, site.base)

    plain = invitation_push("call-zh")  # the server's English title and body, no pushConfig
    plain["data"]["userNames"] = {"alice": "Alice Liddell"}
    driver.push(plain)
    [shown] = driver.wait_notifications(lambda ns: len(ns) == 1, "the notification", tag="call-zh", redeliver=plain)
    assert (shown["title"], shown["body"]) == ("Alice Liddell 来电", "视频通话")

    own = invitation_push("call-own", caller="carol")
    own["data"]["pushConfig"] = {"title": "Dinner?", "content": "Pick up, it is carol", "payload": ""}
    own.update(title="Dinner?", body="Pick up, it is carol")
    driver.push(own)
    driver.wait_notifications(lambda ns: len(ns) == 2, "two notifications", redeliver=own)
    [mine] = driver.shown("call-own")
    assert (mine["title"], mine["body"]) == ("Dinner?", "Pick up, it is carol")


def test_an_invitation_push_that_comes_again_after_its_closing_rings_nobody(login, site, bob):
    """A retried or late invitation push (the same call and deadline) after the closing push
    does not ring again; a different invitation still does."""
    page = login("bob")
    service_worker_ready(page)
    driver = PushDriver(page, site.base)
    first = invitation_push("call-one")
    driver.push(first)
    driver.wait_notifications(lambda ns: len(ns) == 1, "the notification", tag="call-one", redeliver=first)
    closing = {"event": "callInvitationClosed", "data": {"callID": "call-one", "state": 2, "reason": "declined"}}
    driver.push(closing)
    driver.wait_notifications(lambda ns: ns == [], "call-one closed", tag="call-one", redeliver=closing)
    driver.push(first)  # the same push again, after its closing
    later = invitation_push("call-two")
    driver.push(later)  # pushes are handled in order: once this shows, the repeat was handled
    driver.wait_notifications(lambda ns: len(ns) == 1, "call-two", tag="call-two", redeliver=later)
    assert driver.notifications("call-one") == []


def test_a_push_that_arrives_after_the_deadline_rings_nobody(login, site, bob):
    page = login("bob")
    service_worker_ready(page)
    driver = PushDriver(page, site.base)
    driver.push(invitation_push("late", deadline_in_ms=-1000))
    on_time = invitation_push("on-time")
    driver.push(on_time)
    shown = driver.wait_notifications(lambda ns: len(ns) >= 1, "the on-time notification", redeliver=on_time)
    assert [n["tag"] for n in shown] == ["on-time"]


def test_reject_from_the_notification_rejects_through_the_api(login, site, alice, bob):
    from invitations.calls import actions

    page = login("bob")
    service_worker_ready(page)
    call_id = actions.call_invite(user=alice, invitees=["bob"], timeout=120)["callID"]
    # The worker's reject handler, run in the worker itself: the session cookie
    # and the CSRF token are the worker's own (Cookie Store, else the page's hand-over).
    worker = next(w for w in page.context.service_workers if w.url.endswith("/sw.js"))
    worker.evaluate("callID => reject(callID)", call_id)
    deadline = time.time() + 20
    while CallUser.objects.get(call__call_id=call_id, user=bob).state != CallUserState.REJECTED:
        assert time.time() < deadline, "bob's invitation was not rejected"
        time.sleep(0.2)
    assert CallUser.objects.get(call__call_id=call_id, user=bob).reason == "declined"


def wait_state(call_id: str, user, state: int, what: str) -> None:
    deadline = time.time() + 20
    while CallUser.objects.get(call__call_id=call_id, user=user).state != state:
        assert time.time() < deadline, what
        time.sleep(0.2)


def test_accept_on_the_notification_accepts_in_the_focused_page(login, site, alice, bob):
    from invitations.calls import actions

    page = login("bob")
    service_worker_ready(page)
    call_id = actions.call_invite(user=alice, invitees=["bob"], timeout=120)["callID"]
    page.locator("#incoming").wait_for()
    worker = next(w for w in page.context.service_workers if w.url.endswith("/sw.js"))
    worker.evaluate("callID => openCallPage(callID, true)", call_id)
    wait_state(call_id, bob, CallUserState.ACCEPTED, "bob did not accept from the notification")
    page.locator("#incall").wait_for()


def test_accept_on_the_notification_opens_the_page_that_accepts(login, site, alice, bob):
    """With no page of the site open, the worker opens /?accept=<callID>&proof=<proof>, the
    proof made at the click (clients.openWindow itself is allowed only in a real click,
    which the DevTools protocol cannot make: the test opens the URL the worker made)."""
    from invitations.calls import actions

    page = login("bob")
    service_worker_ready(page)
    call_id = actions.call_invite(user=alice, invitees=["bob"], timeout=120)["callID"]
    worker = next(w for w in page.context.service_workers if w.url.endswith("/sw.js"))
    page.goto(worker.evaluate("callID => acceptURL(callID)", call_id))
    wait_state(call_id, bob, CallUserState.ACCEPTED, "the opened page did not accept")
    page.locator("#incall").wait_for()
    assert "accept=" not in page.url and "proof=" not in page.url


def test_ring_when_closed_says_so_when_the_browser_has_no_push_service(login, site, bob):
    page = login("bob")
    page.click(".settings summary")
    page.check("#push-ring")
    state = page.locator("#push-state")
    state.filter(has_text="push service").wait_for(timeout=30000)
    assert not page.is_checked("#push-ring")


def test_with_the_site_closed_bob_is_rung_and_rejects_from_the_notification(login, site, settings, alice, bob):
    """The whole path: the site's worker encrypts a push to bob's subscription; the
    push service (the test's) hands the decrypted body to bob's browser; the
    notification rejects the call; the closing push closes it."""
    from invitations.calls import actions
    from invitations.delivery import push
    from invitations.models import Connection
    from tests.browser.conftest import _guard_on_in_children
    from tests.fakes.push_service import LocalPushService, Subscriber
    from tests.processes import start_worker

    settings.CALL_PUSH_ENDPOINT_HOSTS = ["127.0.0.1"]
    settings.CALL_PUSH_ALLOW_HTTP = True
    site.worker.stop()  # the worker checks the endpoint again when it sends: it needs the same rules
    with _guard_on_in_children():
        site.worker = start_worker(
            site.log_dir, "rqworker-local-push", CALL_PUSH_ENDPOINT_HOSTS="127.0.0.1", CALL_PUSH_ALLOW_HTTP="1"
        )
    push_service = LocalPushService()
    try:
        page = login("bob")
        service_worker_ready(page)
        subscriber = Subscriber(push_service.endpoint())
        keys = subscriber.subscription()["keys"]
        push.push_subscription_save(
            user=bob, endpoint=subscriber.endpoint, p256dh=keys["p256dh"], auth=keys["auth"], device_id="bobs-browser"
        )
        page.goto("/sw.js")  # bob closes the call page (the browser and its worker stay)
        deadline = time.time() + 20
        while Connection.objects.filter(user=bob).exists():
            assert time.time() < deadline, "bob is still connected"
            time.sleep(0.2)
        driver = PushDriver(page, site.base)

        call_id = actions.call_invite(
            user=alice, invitees=["bob"], timeout=120, extended_data=json.dumps({"type": "video"})
        )["callID"]
        [invitation] = push_service.wait_for(lambda rs: len(rs) == 1)
        body = subscriber.decrypt(invitation)
        driver.push(body)
        [shown] = driver.wait_notifications(
            lambda ns: len(ns) == 1, "the call notification", tag=call_id, redeliver=body
        )
        # alice gave no text of her own: bob's worker words it (the server's English fallback aside)
        assert (shown["title"], shown["body"]) == ("alice is calling", "Video call")

        worker = next(w for w in page.context.service_workers if w.url.endswith("/sw.js"))
        worker.evaluate("callID => reject(callID)", call_id)
        wait_state(call_id, bob, CallUserState.REJECTED, "the notification's Reject did not reject")

        closing = push_service.wait_for(lambda rs: len(rs) == 2)[1]
        driver.push(subscriber.decrypt(closing))
        driver.wait_notifications(lambda ns: ns == [], "the notification closed", tag=call_id)
    finally:
        push_service.stop()
