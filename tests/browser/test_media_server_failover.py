"""A group call on one of two media servers (two real Janus processes of this test):
the pages swap their short-lived tokens for fresh ones before they expire, and when the
call's server dies they join the room the site places on the other one.
"""

import pytest

from tests.browser.conftest import Site
from tests.browser.test_call_page import call
from tests.browser.test_media import answer
from tests.browser.test_media_server import expect_decoding_through_server
from tests.fakes.janus import site_environment, start_janus

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

TOKEN_SECONDS = 10


@pytest.fixture
def second_janus(tmp_path):
    janus = start_janus(tmp_path / "second-janus")
    yield janus
    janus.kill()


@pytest.fixture
def site(transactional_db, process_logs, spare_janus, second_janus):
    """The site with two media servers of this test and tokens valid a few seconds."""
    env = site_environment(spare_janus, second_janus)
    env["CALL_SFU_TOKEN_TTL_SECONDS"] = str(TOKEN_SECONDS)
    s = Site(process_logs, env=env)
    s.servers = {spare_janus.url: spare_janus, second_janus.url: second_janus}
    yield s
    s.stop()


def link(page) -> dict:
    return page.evaluate("""() => {
      const link = window.callMedia.session.link;
      return { url: link.client?.url ?? null, token: link.client?.token ?? null, expiresAt: link.info.expiresAt };
    }""")


def test_tokens_are_renewed_and_the_call_moves_when_its_server_dies(login, site, alice, bob, carol):
    pages = {"alice": login("alice"), "bob": login("bob"), "carol": login("carol")}
    call(pages["alice"], "bob", "carol")
    answer(pages["bob"], "alice")
    answer(pages["carol"], "alice")
    expect_decoding_through_server(pages, list(pages))
    first = link(pages["alice"])

    # past the first token's expiry, Janus still takes the page's requests: it uses a newer one
    pages["alice"].wait_for_function(f"Date.now() > {first['expiresAt']} + 1000", timeout=(TOKEN_SECONDS + 5) * 1000)
    now = link(pages["alice"])
    assert now["token"] != first["token"] and now["url"] == first["url"]
    probe = pages[
        "alice"
    ].evaluate("""() => { const c = window.callMedia.session.link.client;
      return c._janus.request({janus: 'keepalive'}).then(() => 'ok', (e) => `${e.code} now ${Date.now()} token ${c.token.split(',')[0]} janus ${c._janus.token.split(',')[0]} info ${window.callMedia.session.link.info.expiresAt}`); }""")
    assert probe == "ok", probe
    expect_decoding_through_server(pages, list(pages))

    site.servers[first["url"]].kill()
    for page in pages.values():
        page.wait_for_function(
            f"window.callMedia.session.link?.client?.url && window.callMedia.session.link.client.url !== '{first['url']}'",
            timeout=60000,
        )
    expect_decoding_through_server(pages, list(pages))
