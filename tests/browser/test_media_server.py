"""Group calls through the media server: a real Janus (tests/fakes/janus.py), a site
configured to use it, real Chromiums with fake camera and microphone.

What flows is read from getStats() through window.callMedia.session.report(): per other
member the bytes, audio packets and decoded frames received (and by which path, the
mesh or the server), and each stream the page sends. Everything waits on conditions.
"""

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import Site
from tests.browser.test_call_page import call, expect_ringing
from tests.browser.test_media import answer, tile, wait_until
from tests.browser.test_screen_share import expect_screen_from, report, stop_from_browser_bar
from tests.fakes.janus import site_environment

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SMALL = {"width": 800, "height": 600}  # six pages on two cores: little to paint


# What the quality marks measure: whose tracks, on which connection.
QUALITY_SOURCES = """() => window.callMedia.session.qualitySources().map((s) => ({userID: s.userID,
  shared: s.pc === window.callMedia.session.link.client.subscriberPc, tracks: (s.trackIds || []).length}))"""


@pytest.fixture
def site(transactional_db, process_logs, janus_server):
    """The site with the tests' Janus as its media server (overrides the plain one)."""
    s = Site(process_logs, env=site_environment(janus_server))
    yield s
    s.stop()


def topology(page) -> str | None:
    return page.evaluate("window.callMedia.session?.topology ?? null")


def frames_from(page, users) -> dict[str, int] | None:
    """Frames decoded from each of `users` through the server, or None while one is missing."""
    remotes = report(page).get("remotes", {})
    rows = {u: remotes.get(u) for u in users}
    if not all(row and row["via"] == "sfu" and row["framesDecoded"] > 0 for row in rows.values()):
        return None
    return {u: row["framesDecoded"] for u, row in rows.items()}


def expect_decoding_through_server(pages: dict, members: list[str]) -> None:
    """On each page (userID -> page), video from every other member arrives through the
    server and keeps decoding (frames counted twice, the second count higher)."""
    others = {user: [u for u in members if u != user] for user in pages}
    first = {}
    for user, page in pages.items():
        first[user] = wait_until(f"{user} decodes {others[user]}", lambda: frames_from(page, others[user]), timeout=60)
    for user, page in pages.items():
        wait_until(
            f"{user} keeps decoding {others[user]}",
            lambda: (now := frames_from(page, others[user])) and all(now[u] > first[user][u] for u in others[user]),
            timeout=60,
        )


def sending_video_streams(page) -> int:
    """How many video streams this page sends: those whose bytes grow between two reports."""
    before = report(page)["outbound"]

    def grown():
        after = report(page)["outbound"]
        growing = [
            k
            for k, v in after.items()
            if v["kind"] == "video" and v["bytesSent"] > before.get(k, {}).get("bytesSent", 0)
        ]
        return growing if after and any(growing) else None

    return len(wait_until("video leaves the page", grown))


WATCH_AUDIO = """(user) => {
  // the longest time no audio packet arrived from `user`, by either path, sampled every 100 ms
  const watch = window.audioWatch = { counts: { mesh: 0, sfu: 0 }, lastGrowth: performance.now(), maxGap: 0, samples: 0 };
  watch.timer = setInterval(async () => {
    const row = (await window.callMedia.session?.report())?.remotes[user];
    const by = row ? row.audioPacketsBy : { mesh: 0, sfu: 0 };
    const now = performance.now();
    if (by.mesh > watch.counts.mesh || by.sfu > watch.counts.sfu) watch.lastGrowth = now;
    watch.maxGap = Math.max(watch.maxGap, now - watch.lastGrowth);
    watch.counts = { ...by };
    watch.samples += 1;
  }, 100);
}"""


def test_six_members_each_decode_the_five_others_and_send_one_video(login, make_user, alice, bob, carol, dave):
    for name in ("erin", "frank"):
        make_user(name)
    users = ["alice", "bob", "carol", "dave", "erin", "frank"]
    pages = {user: login(user, viewport=SMALL) for user in users}
    call(pages["alice"], *users[1:])
    for user in users[1:]:
        answer(pages[user], "alice")
    expect_decoding_through_server(pages, users)
    for page in pages.values():
        assert topology(page) == "sfu"
        assert page.evaluate("window.callMedia.session.peers.size") == 0  # no mesh at all
        assert sending_video_streams(page) == 1
        expect(page.locator("#media-tiles .tile")).to_have_count(6)
        expect(page.locator("#media-mesh-note")).to_be_hidden()


def test_two_stay_peer_to_peer_and_a_third_moves_the_call_to_the_server(login, alice, bob, carol):
    a, b, c = login("alice"), login("bob"), login("carol")
    call(a, "bob")
    answer(b, "alice")
    for page, other in ((a, "bob"), (b, "alice")):
        wait_until(
            f"{other}'s audio arrives peer to peer",
            lambda p=page, o=other: report(p)["remotes"].get(o, {}).get("audioPacketsBy", {}).get("mesh"),
        )
        assert topology(page) == "p2p"
        assert page.evaluate("window.callMedia.session.link") is None
    a.evaluate(WATCH_AUDIO, "bob")

    a.click("#incall-invite")
    a.click('label[for="invite-carol"]')
    a.click("#invite-send")
    expect_ringing(c, "alice")
    c.click("#incoming-accept")
    expect_decoding_through_server({"alice": a, "bob": b, "carol": c}, ["alice", "bob", "carol"])
    for page, me in ((a, "alice"), (b, "bob"), (c, "carol")):
        # the mesh is gone once everyone arrives through the server
        wait_until(f"{me}'s mesh closes", lambda p=page: p.evaluate("window.callMedia.session.peers.size") == 0)
        assert topology(page) == "sfu"
        assert sending_video_streams(page) == 1
    watch = a.evaluate("(() => { clearInterval(window.audioWatch.timer); return window.audioWatch; })()")
    assert watch["samples"] > 20, watch
    assert watch["maxGap"] < 1500, watch  # bob's voice never stopped for more than a moment
    # the quality marks now read the server's one connection, member by member
    for page, others in ((a, ("bob", "carol")), (b, ("alice", "carol")), (c, ("alice", "bob"))):
        for other in others:
            expect(tile(page, other)).to_have_attribute("data-quality", "good", timeout=15000)
    sources = a.evaluate(QUALITY_SOURCES)
    assert sorted(s["userID"] for s in sources) == ["bob", "carol"], sources
    assert all(s["shared"] and s["tracks"] >= 1 for s in sources), sources


def test_screen_through_the_server_and_a_member_who_quits_stops_receiving(login, alice, bob, carol):
    a, b, c = login("alice"), login("bob"), login("carol")
    call(a, "bob", "carol")
    answer(b, "alice")
    answer(c, "alice")
    expect_decoding_through_server({"bob": b}, ["alice", "bob", "carol"])

    # mute and camera off reach the others through the server (the streams' descriptions)
    a.click("#media-mute")
    a.click("#media-camera")
    for page in (b, c):
        expect(tile(page, "alice")).to_have_attribute("data-muted", "1")
        expect(tile(page, "alice")).to_have_attribute("data-video", "0")
    a.click("#media-mute")
    a.click("#media-camera")
    for page in (b, c):
        expect(tile(page, "alice")).to_have_attribute("data-muted", "0")
        expect(tile(page, "alice")).to_have_attribute("data-video", "1")

    a.click("#media-screen")
    for page in (b, c):
        expect_screen_from(page, "alice")
        expect(page.locator("#media-screen")).to_be_disabled()
        expect(tile(page, "alice")).to_have_attribute("data-video", "1")  # her camera stays in its tile
    assert sending_video_streams(a) == 2  # camera and screen
    stop_from_browser_bar(a)
    for page in (b, c):
        expect(page.locator('#media-tiles [data-tile="screen"]')).to_have_count(0)
        expect(page.locator("#media-screen")).to_be_enabled()
    assert sending_video_streams(a) == 1

    # carol's page keeps its connection to the server open (as a page that ignores the quit
    # would); the site removes her from the room: the server kicks her connection
    c.evaluate("""() => {
      const link = window.callMedia.session.link;
      window.kept = link.client;
      window.kept.addEventListener("closed", (e) => { window.keptClosed = e.detail.reason; });
      link.client = null;
    }""")
    c.click("#incall-quit")
    expect(c.locator("#idle")).to_be_visible()
    c.wait_for_function("window.keptClosed === 'kicked'", timeout=30000)
    assert c.evaluate("window.kept.subscriberPc.connectionState") == "closed"
    for page in (a, b):
        expect(tile(page, "carol")).to_have_count(0)
        wait_until("carol's media is gone", lambda p=page: "carol" not in report(p)["remotes"])
