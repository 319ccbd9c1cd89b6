"""The call page reads its limits from the server (data-* on #app), so they exist once.

A view test (Django's test client): no browser needed to see what the page is given.
"""

import re

import pytest

from tests.conftest import PASSWORD


@pytest.mark.django_db
def test_call_page_renders_the_servers_limits(client, settings, alice):
    settings.CALL_MAX_PARTICIPANTS = 4
    settings.CALL_MAX_TIMEOUT_SECONDS = 120
    settings.CALL_DEFAULT_TIMEOUT_SECONDS = 45
    client.login(username="alice", password=PASSWORD)
    html = client.get("/").content.decode()
    app = re.search(r'<div class="callpage" id="app"([^>]*)>', html).group(1)
    assert 'data-max-participants="4"' in app
    assert 'data-min-timeout="1"' in app
    assert 'data-max-timeout="120"' in app
    assert 'data-default-timeout="45"' in app
    assert "0 / 3 selected" in html
    assert re.search(r'id="call-timeout"[^>]*min="1" max="120" value="45"', html)
