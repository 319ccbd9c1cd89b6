"""Cross-origin (PROTOCOL "Apps"): the HTTP API answers CORS, preflights and the answers
themselves, for the registered origins of enabled apps only and only under /api/,
allowing Authorization and Content-Type and never credentials; a session cookie sent
along from another origin is not a sign-in; /static/ (the call kit) is open to every
origin."""

import pytest
from asgiref.testing import ApplicationCommunicator
from django.test import Client

from callsite.asgi import application
from invitations.accounts import app_actions
from invitations.models import App
from tests.apps_helpers import mint_app_token, new_app
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db
ORIGIN = "http://127.0.0.1:9000"
OTHER_ORIGINS = [
    "http://127.0.0.1:9001",  # another port
    "https://127.0.0.1:9000",  # another scheme
    "http://127.0.0.1:9000.evil.example",  # a suffix
    "http://evil.example",
    "null",
    "http://127.0.0.1:9000/path",  # not an origin
    "garbage",
]


@pytest.fixture
def app(db):
    return new_app("Demo", origins=[ORIGIN])


def preflight(origin: str, path: str = "/api/calls"):
    return Client().options(
        path,
        HTTP_ORIGIN=origin,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization, content-type",
    )


def test_a_registered_origins_preflight_is_answered(app):
    answer = preflight(ORIGIN)
    assert answer.status_code == 200
    assert answer["Access-Control-Allow-Origin"] == ORIGIN  # echoed, never *
    assert {h.strip() for h in answer["Access-Control-Allow-Headers"].split(",")} == {"authorization", "content-type"}
    assert {"GET", "POST", "PUT", "DELETE"} <= {m.strip() for m in answer["Access-Control-Allow-Methods"].split(",")}
    assert answer["Access-Control-Max-Age"] == "600"
    assert "Access-Control-Allow-Credentials" not in answer
    assert "origin" in answer["Vary"].lower()


def test_a_registered_origins_answers_carry_cors_refusals_included(app):
    token = mint_app_token(app, "u1", "Ann")
    answer = Client().post(
        "/api/calls",
        {"invitees": ["u2"]},
        content_type="application/json",
        HTTP_ORIGIN=ORIGIN,
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    # an error the page must be able to read: u2 is nobody yet
    assert answer.status_code == 400 and answer.json()["error"]["reason"] == "no_invitee_registered"
    assert answer["Access-Control-Allow-Origin"] == ORIGIN
    listed = Client().get("/api/calls", HTTP_ORIGIN=ORIGIN, HTTP_AUTHORIZATION=f"Bearer {token}")
    assert listed.status_code == 200 and listed["Access-Control-Allow-Origin"] == ORIGIN
    refused = Client().get("/api/calls", HTTP_ORIGIN=ORIGIN, HTTP_AUTHORIZATION="Bearer a.b.c")
    assert refused.status_code == 401 and refused["Access-Control-Allow-Origin"] == ORIGIN


@pytest.mark.parametrize("origin", OTHER_ORIGINS)
def test_other_origins_get_no_cors(app, origin):
    assert "Access-Control-Allow-Origin" not in preflight(origin)
    token = mint_app_token(app, "u1")
    answer = Client().get("/api/calls", HTTP_ORIGIN=origin, HTTP_AUTHORIZATION=f"Bearer {token}")
    assert "Access-Control-Allow-Origin" not in answer


def test_origins_are_matched_normalised_and_follow_the_app_rows(app):
    assert preflight("HTTP://127.0.0.1:9000")["Access-Control-Allow-Origin"] == "HTTP://127.0.0.1:9000"
    assert "Access-Control-Allow-Origin" not in preflight("https://shop.example")
    app_actions.app_origins_set(app=app, origins=[ORIGIN, "https://shop.example:443"])
    assert preflight("https://shop.example")["Access-Control-Allow-Origin"] == "https://shop.example"  # at once
    App.objects.filter(pk=app.pk).update(enabled=False)
    assert "Access-Control-Allow-Origin" not in preflight(ORIGIN)  # a disabled app's origins are closed


def test_pages_outside_the_api_never_answer_cors(app):
    for path in ("/", "/calls/", "/admin/", "/login/"):
        assert "Access-Control-Allow-Origin" not in preflight(ORIGIN, path), path
        assert "Access-Control-Allow-Origin" not in Client().get(path, HTTP_ORIGIN=ORIGIN), path


def test_a_session_cookie_from_another_origin_is_not_a_sign_in(app, make_user):
    make_user("alice")
    browser = Client()
    assert browser.login(username="alice", password=PASSWORD)
    assert browser.get("/api/calls").status_code == 200
    assert browser.get("/api/calls", HTTP_ORIGIN="http://testserver").status_code == 200  # the site's own page
    for origin in (ORIGIN, "http://evil.example"):
        answer = browser.get("/api/calls", HTTP_ORIGIN=origin)
        assert answer.status_code == 401 and answer.json()["error"]["reason"] == "unauthenticated", origin


async def static_headers(path: str, origin: str) -> dict[bytes, bytes]:
    scope = {
        "type": "http",
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1:8000"), (b"origin", origin.encode())],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    communicator = ApplicationCommunicator(application, scope)
    await communicator.send_input({"type": "http.request", "body": b"", "more_body": False})
    start = await communicator.receive_output(10)
    await communicator.wait(10)
    assert start["type"] == "http.response.start" and start["status"] == 200, start
    return dict(start["headers"])


@pytest.mark.django_db(transaction=True)
async def test_static_files_are_open_to_every_origin():
    """What an app's page imports as an ES module (fetched in CORS mode) must answer with
    Access-Control-Allow-Origin; Django's static handler runs no middleware."""
    headers = await static_headers("/static/js/zimclient.js", ORIGIN)
    assert headers[b"access-control-allow-origin"] == b"*"
    assert b"access-control-allow-credentials" not in headers
