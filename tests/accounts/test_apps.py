"""Apps' tokens at the site's doors (PROTOCOL "Apps"): every bad token PROTOCOL lists
is `unauthenticated` over HTTP (401) and closes a socket with 4401, and makes no user;
a good one makes its user on first use (its name kept and updated), never a staff
account nor a site account; rotated secrets; the limit on failed checks per address;
`app_add`."""

import hashlib
import io
import json
import time

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test import Client

from callsite.asgi import application
from invitations.accounts import app_actions
from invitations.models import App
from tests.apps_helpers import forge_token, mint_app_token, new_app

User = get_user_model()
ORIGIN = "http://127.0.0.1:9000"
BAD_CASES = [
    "alg none",
    "alg HS512",
    "alg RS256",
    "wrong signature",
    "expired",
    "exp more than 24 h after iat",
    "no iss",
    "no sub",
    "no iat",
    "no exp",
    "unknown app",
    "disabled app",
    "not a JWT",
]


def bad_token(case: str, app: App, disabled: App) -> str:
    now = int(time.time())
    claims = {"iss": app.app_id, "sub": "u1", "name": "U One", "iat": now, "exp": now + 3600}
    secret = app.server_secret
    if case.startswith("no "):
        del claims[case.removeprefix("no ")]
        return forge_token(claims, secret=secret)
    return {
        # each signed with the app's own secret, so only the named flaw is wrong
        "alg none": lambda: forge_token(claims, secret=secret, header={"alg": "none", "typ": "JWT"}),
        "alg HS512": lambda: forge_token(claims, secret=secret, header={"alg": "HS512"}, digest=hashlib.sha512),
        "alg RS256": lambda: forge_token(claims, secret=secret, header={"alg": "RS256", "typ": "JWT"}),
        "wrong signature": lambda: forge_token(claims, secret="0" * 64),
        "expired": lambda: forge_token({**claims, "iat": now - 7200, "exp": now - 1}, secret=secret),
        "exp more than 24 h after iat": lambda: forge_token({**claims, "exp": now + 24 * 3600 + 1}, secret=secret),
        "unknown app": lambda: forge_token({**claims, "iss": "1000000000"}, secret=secret),
        "disabled app": lambda: mint_app_token(disabled, "u1"),
        "not a JWT": lambda: "a.b.c",
    }[case]()


@pytest.fixture
def app_pair(db):
    return new_app("Demo", origins=[ORIGIN]), new_app("Off", enabled=False)


def get_calls(token: str, **extra) -> tuple[int, dict]:
    response = Client().get("/api/calls", HTTP_AUTHORIZATION=f"Bearer {token}", **extra)
    return response.status_code, response.json()


@pytest.mark.django_db
@pytest.mark.parametrize("case", BAD_CASES)
def test_each_bad_token_is_unauthenticated_over_http_and_makes_no_user(app_pair, case):
    users = User.objects.count()
    status, body = get_calls(bad_token(case, *app_pair))
    assert status == 401 and body["error"] == {
        "code": None,
        "reason": "unauthenticated",
        "message": body["error"]["message"],
    }
    posted = Client().post(
        "/api/calls",
        {"invitees": ["u2"]},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {bad_token(case, *app_pair)}",
    )
    assert posted.status_code == 401 and posted.json()["error"]["reason"] == "unauthenticated"
    assert User.objects.count() == users


async def first_frame(ws: WebsocketCommunicator) -> dict:
    connected, _ = await ws.connect()
    assert connected
    return await ws.receive_output(5)


@pytest.mark.django_db(transaction=True)
async def test_each_bad_token_closes_a_socket_with_4401(app_pair):
    """In the Authorization header, and as the first frame of an app's page."""
    for case in BAD_CASES:
        token = bad_token(case, *app_pair)
        ws = WebsocketCommunicator(application, "/ws/calls/", headers=[(b"authorization", f"Bearer {token}".encode())])
        assert await first_frame(ws) == {"type": "websocket.close", "code": 4401}, case
        page = WebsocketCommunicator(application, "/ws/calls/", headers=[(b"origin", ORIGIN.encode())])
        connected, _ = await page.connect()
        assert connected
        await page.send_json_to({"type": "auth", "token": token})
        assert await page.receive_output(5) == {"type": "websocket.close", "code": 4401}, case
    assert not await database_sync_to_async(User.objects.filter(username__contains="#").exists)()


@pytest.mark.django_db
def test_first_use_makes_the_user_and_later_tokens_update_its_name(app_pair, make_user):
    app, _ = app_pair
    site_u1 = make_user("u1", first_name="Site")
    status, _ = get_calls(mint_app_token(app, "u1", "Ann"))
    assert status == 200
    made = User.objects.get(username=f"u1#{app.app_id}")
    assert (made.first_name, made.is_staff, made.is_superuser, made.has_usable_password()) == (
        "Ann",
        False,
        False,
        False,
    )
    get_calls(mint_app_token(app, "u1", "Anna"))
    get_calls(mint_app_token(app, "u1"))  # no name: the last one is kept
    made.refresh_from_db()
    assert made.first_name == "Anna"
    site_u1.refresh_from_db()
    assert site_u1.first_name == "Site"  # the site's own u1 is another user, untouched
    assert User.objects.filter(username__startswith="u1").count() == 2


@pytest.mark.django_db
def test_an_app_token_never_acts_as_a_deactivated_or_staff_account(app_pair, app_user):
    app, _ = app_pair
    user = app_user(app, "u1")
    User.objects.filter(pk=user.pk).update(is_active=False)
    assert get_calls(mint_app_token(app, "u1"))[0] == 401
    User.objects.filter(pk=user.pk).update(is_active=True, is_staff=True)  # an operator's slip in the admin
    assert get_calls(mint_app_token(app, "u1"))[0] == 401
    User.objects.filter(pk=user.pk).update(is_staff=False)
    assert get_calls(mint_app_token(app, "u1"))[0] == 200


@pytest.mark.django_db
def test_a_rotated_secret_is_accepted_for_the_grace_period_or_refused_at_once(app_pair):
    app, _ = app_pair
    before = mint_app_token(app, "u1")
    app.server_secret = app_actions.app_secret_rotate(app_id=app.app_id)
    assert get_calls(before)[0] == 200  # signed with the previous secret: still accepted
    assert get_calls(mint_app_token(app, "u1"))[0] == 200
    middle = mint_app_token(app, "u1")
    app.server_secret = app_actions.app_secret_rotate(app_id=app.app_id, grace_hours=0)  # it leaked
    assert get_calls(middle)[0] == 401
    assert get_calls(before)[0] == 401  # two rotations ago
    assert get_calls(mint_app_token(app, "u1"))[0] == 200


@pytest.mark.django_db(transaction=True)
async def test_failed_token_checks_are_limited_per_address(app_pair, settings):
    settings.RATE_LIMIT_APP_TOKEN_FAILURES_PER_IP = 3
    app, off = app_pair
    good = await database_sync_to_async(mint_app_token)(app, "u1")

    def http(token: str, address: str = "10.0.0.1") -> tuple[int, dict]:
        return get_calls(token, REMOTE_ADDR=address)

    for _ in range(3):
        assert (await database_sync_to_async(http)(bad_token("wrong signature", app, off)))[0] == 401
    status, body = await database_sync_to_async(http)(good)  # over the limit: not even checked
    assert status == 429 and body["error"]["reason"] == "rate_limited"
    assert (await database_sync_to_async(http)(good, "10.0.0.2"))[0] == 200  # another address
    ws = WebsocketCommunicator(application, "/ws/calls/", headers=[(b"authorization", f"Bearer {good}".encode())])
    ws.scope["client"] = ("10.0.0.1", 50000)
    assert await first_frame(ws) == {"type": "websocket.close", "code": 4429}
    page = WebsocketCommunicator(application, "/ws/calls/", headers=[(b"origin", ORIGIN.encode())])
    page.scope["client"] = ("10.0.0.1", 50001)
    await page.connect()
    await page.send_json_to({"type": "auth", "token": good})
    assert await page.receive_output(5) == {"type": "websocket.close", "code": 4429}


@pytest.mark.django_db
def test_app_add_prints_the_app_id_and_secret_last_and_normalises_origins(app_token):
    out = io.StringIO()
    call_command(
        "app_add", "Demo", "--origin", "HTTPS://App.Example:443", "--origin", "http://127.0.0.1:9000", stdout=out
    )
    *_, id_line, secret_line = out.getvalue().strip().splitlines()
    assert id_line.startswith("appID=") and secret_line.startswith("serverSecret=")
    app = App.objects.get(app_id=id_line.removeprefix("appID="))
    assert app.name == "Demo" and app.enabled
    assert sorted(app.origins.values_list("origin", flat=True)) == ["http://127.0.0.1:9000", "https://app.example"]
    # what an app's server does with the two lines
    app.server_secret = secret_line.removeprefix("serverSecret=")
    status, body = get_calls(app_token(app, "u1"))
    assert status == 200 and body == {"callList": [], "nextFlag": 0}
    with pytest.raises(CommandError, match="not an http"):
        call_command("app_add", "Bad", "--origin", "app.example", stdout=io.StringIO())
    assert not App.objects.filter(name="Bad").exists()


@pytest.mark.django_db
def test_the_admin_shows_a_new_apps_secret_once_and_rotates_it(make_user, app_token):
    root = make_user("root", is_staff=True, is_superuser=True)
    browser = Client()
    browser.force_login(root, backend="django.contrib.auth.backends.ModelBackend")
    page = browser.post(
        "/admin/invitations/app/add/", {"name": "Shop", "enabled": "on", "origins": "https://Shop.Example\n"}
    )
    assert page.status_code == 200, page.content
    app = App.objects.get(name="Shop")
    assert app.server_secret in page.content.decode() and app.app_id in page.content.decode()
    assert list(app.origins.values_list("origin", flat=True)) == ["https://shop.example"]
    change = browser.get(f"/admin/invitations/app/{app.app_id}/change/").content.decode()
    assert app.server_secret not in change  # shown once
    old = app_token(app, "u1")
    rotated = browser.post(
        "/admin/invitations/app/", {"action": "rotate_secret_now", "_selected_action": [app.app_id]}
    ).content.decode()
    app.refresh_from_db()
    assert app.server_secret in rotated
    assert get_calls(old)[0] == 401 and get_calls(app_token(app, "u1"))[0] == 200
    bad = browser.post("/admin/invitations/app/add/", {"name": "Bad", "enabled": "on", "origins": "shop.example"})
    assert "not an http(s) origin" in bad.content.decode() and not App.objects.filter(name="Bad").exists()
