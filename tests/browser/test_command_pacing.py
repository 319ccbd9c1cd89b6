"""The page's client (static/js/zimclient.js) keeps each socket under the server's
command limit (CALL_SOCKET_COMMANDS_PER_SECOND 20, a burst of 40): a page that
asks many things at once (a group call list per group on load, the missed calls,
a mesh call's ICE candidates) has them paced, not refused as rate_limited.
A real Chromium against the site's real server with its default limits."""

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

BURST = """async (count) => {
  const { ZIMClient } = await import("/static/js/zimclient.js");
  const zim = new ZIMClient({ presence: false, deviceID: "web-burst" });
  const connected = new Promise((resolve) => zim.on("connectionStateChanged", (s) => {
    if (s.state === "connected") resolve();
  }));
  zim.connect();
  await connected;
  const started = performance.now();
  const answers = await Promise.all(Array.from({ length: count }, () =>
    zim.queryGroups().then(() => "ok", (error) => error.reason)));
  const ms = performance.now() - started;
  zim.disconnect();
  return { answers, ms };
}"""


def test_a_burst_of_commands_is_paced_not_refused(login, alice):
    page = login("alice")
    result = page.evaluate(BURST, 100)
    refused = [answer for answer in result["answers"] if answer != "ok"]
    print(
        f"100 commands at once from the page's client: {100 - len(refused)} answered, "
        f"{len(refused)} refused, in {result['ms']:.0f} ms"
    )
    assert refused == []
    # paced, not slowed down: the burst goes at once, the rest at about 20 a second
    assert result["ms"] < 6000
