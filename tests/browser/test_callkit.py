"""The call kit embedded in an app's page on another origin: the example host app
(examples/host-app/, its own server minting its users' tokens) on one port, the site on
another, real Chromium, daphne, worker, PostgreSQL and Redis.

Two users of app A call each other through the kit; every UIKit callback the host page
records (window.callkitLog) is asserted in order, with its arguments, as
docs/embedding.md says it fires; an accepted video call carries audio and video both ways;
a user of app B with the same userID as one of app A is never reached, and cannot reach
app A's users (errorInvitees).
"""

import os
import sys

import pytest
import requests
from playwright.sync_api import expect

from invitations.accounts.app_actions import app_create
from tests.browser.conftest import TIMEOUT_MS
from tests.browser.test_media import wait_until
from tests.processes import ROOT, Proc, free_port

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

HOST_APP = ROOT / "examples" / "host-app" / "server.py"
ANN = {"userID": "Ann_Lee", "userName": "Ann Lee"}
BOB = {"userID": "Bob_Stone", "userName": "Bob Stone"}


class HostApp:
    """examples/host-app/server.py for one app, on a port of its own."""

    def __init__(self, name: str, site: str, log_dir, token_seconds: int = 3600) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.app, secret = app_create(name=name, origins=[self.base])
        env = {**os.environ, "APP_ID": self.app.app_id, "SERVER_SECRET": secret, "TOKEN_SECONDS": str(token_seconds)}
        args = [sys.executable, str(HOST_APP), "--site", site, "--port", str(self.port)]
        self.proc = Proc(f"host-app-{self.port}", args, env, log_dir)
        wait_until(f"{name} answers", self.answers, timeout=30)

    def answers(self) -> bool:
        try:
            return requests.get(f"{self.base}/users", timeout=1).ok
        except requests.ConnectionError:
            return False

    def token(self, user: dict) -> str:
        """What the app's backend would mint for `user`."""
        return requests.get(f"{self.base}/token", params=user, timeout=5).json()["token"]


@pytest.fixture
def host_apps(site, process_logs):
    # app B's tokens live 70 s: its page is told to renew them (onTokenWillExpire) 10 s after sign-in
    apps = HostApp("App A", site.base, process_logs), HostApp("App B", site.base, process_logs, token_seconds=70)
    yield apps
    for host in apps:
        host.proc.stop()


@pytest.fixture
def sign_in(browser):
    contexts = []

    def open_page(host: HostApp, user: dict):
        context = browser.new_context(viewport={"width": 1100, "height": 760}, permissions=["microphone", "camera"])
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        page.goto(host.base + "/")
        page.fill("#name", user["userName"])
        page.click("#sign-in button")
        expect(page.locator("#me-id")).to_have_text(user["userID"])
        page.wait_for_function("window.callkit && window.callkit.state === 'connected'")
        return page

    yield open_page
    for context in contexts:
        context.close()


def entries(page, start: int, count: int) -> list:
    """The callbacks the page recorded after the first `start`, once there are `count` of them."""
    page.wait_for_function("n => window.callkitLog.length >= n", arg=start + count)
    return [[e["name"], *e["args"]] for e in page.evaluate("window.callkitLog")[start:]]


def logged(page) -> int:
    return page.evaluate("window.callkitLog.length")


def call_by_id(page, user: dict, kind: str) -> None:
    page.fill("#callee", user["userID"])
    page.click(f"#call-by-id button[data-type={kind}]")


def send(page, user: dict, call_type: int, **more) -> dict:
    return page.evaluate(
        "([invitee, callType, more]) => window.callkit.sendCallInvitation({invitees: [invitee], callType, ...more})",
        [user, call_type, more],
    )


def stats(page, site: str) -> dict:
    """Bytes per peer and kind, read from the kit's media module (the same module instance the kit loaded)."""
    return (
        page.evaluate(
            """async (site) => {
                const { media } = await import(`${site}/static/js/call/media/index.js`);
                return media.session ? await media.session.stats() : null;
            }""",
            site,
        )
        or {}
    )


def expect_receiving(page, site: str, user: str) -> None:
    kinds = ("audio", "video")
    first = wait_until(
        f"{user}'s audio and video reach the page",
        lambda: (row := stats(page, site).get(user)) and all(row[f"{k}In"] > 0 for k in kinds) and row,
    )
    wait_until(
        f"{user}'s audio and video keep coming",
        lambda: (row := stats(page, site).get(user)) and all(row[f"{k}In"] > first[f"{k}In"] for k in kinds),
    )


def shoot(page, name: str) -> None:
    if os.environ.get("SCREENSHOTS") == "1":
        page.screenshot(path=str(ROOT / "docs" / "img" / f"{name}.png"))


def test_two_users_of_an_app_call_each_other_through_the_kit(site, host_apps, sign_in):
    app_a, app_b = host_apps
    ann = sign_in(app_a, ANN)
    bob = sign_in(app_a, BOB)
    other_ann = sign_in(app_b, ANN)  # app B's user with app A's Ann's userID

    # the host page's CSS stays out of the kit, and the kit's out of the page
    host_h1 = ann.evaluate("getComputedStyle(document.querySelector('h1')).fontFamily")
    assert "Georgia" in host_h1

    # 1. Ann video-calls Bob; Bob accepts; audio and video flow both ways; Ann hangs up
    call_by_id(ann, BOB, "video")
    expect(bob.locator("#incoming")).to_be_visible()
    # the app's names for its users (PROTOCOL's userNames), not their userIDs
    expect(bob.locator("#incoming-caller")).to_have_text(ANN["userName"])
    [[name, call_id, *rest]] = entries(bob, 0, 1)
    assert [name, *rest] == ["onIncomingCallReceived", ANN, 1, [BOB], ""]
    assert "Georgia" not in bob.locator("#incoming-accept").evaluate("(b) => getComputedStyle(b).fontFamily")
    shoot(bob, "callkit-incoming")
    bob.click("#incoming-accept")
    assert entries(bob, 1, 1) == [["onIncomingCallAcceptButtonPressed"]]
    assert entries(ann, 0, 1) == [["onOutgoingCallAccepted", call_id, BOB]]
    expect(ann.locator("#incall")).to_be_visible()
    expect(bob.locator("#incall")).to_be_visible()
    expect_receiving(ann, site.base, BOB["userID"])
    expect_receiving(bob, site.base, ANN["userID"])
    for page, other in ((ann, BOB), (bob, ANN)):
        tile = page.locator(f'#media-tiles [data-tile="{other["userID"]}"]')
        expect(tile).to_have_attribute("data-conn", "connected")
        expect(tile).to_have_attribute("data-video", "1")
        expect(tile.locator("figcaption .name")).to_have_text(other["userName"])
    assert ann.evaluate("getComputedStyle(document.querySelector('h1')).fontFamily") == host_h1
    shoot(ann, "callkit-in-call")
    ann.click("#incall-hangup")
    assert entries(ann, 1, 1) == [["onCallEnd", call_id, "hangUp"]]
    assert entries(bob, 2, 1) == [["onCallEnd", call_id, "remoteHangUp"]]
    expect(bob.locator("#incall")).to_be_hidden()

    # 2. Bob voice-calls Ann with data for her; Ann declines (app B's Ann hears nothing)
    sent = send(bob, ANN, 0, data="see you at 5", timeout=30)
    assert sent["errorInvitees"] == [] and sent["callID"]
    call_id = sent["callID"]
    assert entries(ann, 2, 1) == [["onIncomingCallReceived", call_id, BOB, 0, [ANN], "see you at 5"]]
    expect(ann.locator("#incoming-kind")).to_have_text("Incoming voice call")
    ann.click("#incoming-reject")
    assert entries(ann, 3, 1) == [["onIncomingCallDeclineButtonPressed"]]
    assert entries(bob, 3, 1) == [["onOutgoingCallDeclined", call_id, ANN, ""]]

    # 3. Ann voice-calls Bob and cancels while it rings
    call_by_id(ann, BOB, "voice")
    [[name, call_id, *rest]] = entries(bob, 4, 1)
    assert [name, *rest] == ["onIncomingCallReceived", ANN, 0, [BOB], ""]
    expect(ann.locator("#outgoing")).to_be_visible()
    shoot(ann, "callkit-outgoing")
    ann.click("#outgoing-cancel")
    assert entries(ann, 4, 1) == [["onOutgoingCallCancelButtonPressed", call_id, [BOB], 0]]
    assert entries(bob, 5, 1) == [["onIncomingCallCanceled", call_id, ANN, ""]]
    expect(bob.locator("#incoming")).to_be_hidden()

    # 4. Ann video-calls Bob; Bob's app rejects it as busy from its server (an app token over
    # HTTP): Ann hears busy; Bob's dialog closes without a callback (answered elsewhere)
    call_id = send(ann, BOB, 1)["callID"]
    assert entries(bob, 6, 1) == [["onIncomingCallReceived", call_id, ANN, 1, [BOB], ""]]
    answer = requests.post(
        f"{site.base}/api/calls/{call_id}/reject",
        json={"reason": "busy"},
        headers={"Authorization": f"Bearer {app_a.token(BOB)}"},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    assert entries(ann, 5, 1) == [["onOutgoingCallRejectedCauseBusy", call_id, BOB, ""]]
    expect(bob.locator("#incoming")).to_be_hidden()

    # 5. Bob video-calls Ann for 2 seconds; nobody answers
    call_id = send(bob, ANN, 1, timeout=2)["callID"]
    assert entries(ann, 6, 1) == [["onIncomingCallReceived", call_id, BOB, 1, [ANN], ""]]
    assert entries(ann, 7, 1) == [["onIncomingCallTimeout", call_id, BOB]]
    assert entries(bob, 7, 1) == [["onOutgoingCallTimeout", call_id, [ANN], True]]

    # 6. app B's Ann cannot reach app A's Bob: he is no user of app B
    answer = send(other_ann, BOB, 1)
    assert answer == {"callID": "", "timeout": 30, "errorInvitees": [{**BOB, "reason": "user_not_found"}]}

    # exactly these callbacks, none twice, none on app B's page
    assert [e[0] for e in entries(ann, 0, 8)] == [
        "onOutgoingCallAccepted",
        "onCallEnd",
        "onIncomingCallReceived",
        "onIncomingCallDeclineButtonPressed",
        "onOutgoingCallCancelButtonPressed",
        "onOutgoingCallRejectedCauseBusy",
        "onIncomingCallReceived",
        "onIncomingCallTimeout",
    ]
    assert [e[0] for e in entries(bob, 0, 8)] == [
        "onIncomingCallReceived",
        "onIncomingCallAcceptButtonPressed",
        "onCallEnd",
        "onOutgoingCallDeclined",
        "onIncomingCallReceived",
        "onIncomingCallCanceled",
        "onIncomingCallReceived",
        "onOutgoingCallTimeout",
    ]
    # app B's page heard nothing of app A's calls: only the kit's reminder to renew its token
    assert entries(other_ann, 0, 1)[0] == ["onTokenWillExpire"]
    assert {e[0] for e in entries(other_ann, 0, 1)} == {"onTokenWillExpire"}


def test_the_kit_refuses_a_bad_token_and_another_apps_token(site, host_apps, sign_in):
    app_a, app_b = host_apps
    page = sign_in(app_b, ANN)
    init = """async ([site, token, userID]) => {
        const { CallKit } = await import(`${site}/static/callkit/callkit.js`);
        try {
            await CallKit.init({ server: site, token, userID });
            return "connected";
        } catch (error) {
            return [error.name, error.reason, error.code];
        }
    }"""
    # one kit per page
    assert page.evaluate(init, [site.base, app_b.token(ANN), ANN["userID"]]) == [
        "CallKitError",
        "already_initialized",
        None,
    ]
    page.evaluate("window.callkit.destroy()")
    expect(page.locator("call-kit")).to_have_count(0)
    assert page.evaluate(init, [site.base, "not.a.token", ANN["userID"]]) == ["CallKitError", "unauthenticated", 4401]
    # app A's token is good, but not on app B's origin
    assert page.evaluate(init, [site.base, app_a.token(ANN), ANN["userID"]]) == [
        "CallKitError",
        "forbidden_origin",
        4403,
    ]
    # a token of app B's own, for another user than the page says
    assert page.evaluate(init, [site.base, app_b.token(BOB), ANN["userID"]]) == ["CallKitError", "user_mismatch", None]
    # destroyed kits leave nothing behind: a good token works again
    assert page.evaluate(init, [site.base, app_b.token(ANN), ANN["userID"]]) == "connected"
    expect(page.locator("call-kit")).to_have_count(1)
