"""Rate limits (invitations/ratelimit.py), counted in the real Redis: over the
limit the answer is `rate_limited` (429) and nothing changes."""
import pytest
from django.conf import settings as django_settings
from django.test import Client

from invitations import ratelimit, services
from invitations.errors import CallError
from invitations.models import ApiToken, Call, CallUser
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_counters():
    """Counters live in Redis under this run's prefix: start and end each test clean."""
    def clear() -> None:
        client = ratelimit._redis()
        for key in client.scan_iter(f"{django_settings.REDIS_PREFIX}:ratelimit:*"):
            client.delete(key)

    clear()
    yield
    clear()


def _bearer(user) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {services.api_token_create(user=user)}"}


def test_invitations_per_minute(settings, alice, bob, carol, dave):
    settings.RATE_LIMIT_INVITES_PER_MINUTE = 3
    http = Client()
    auth = _bearer(alice)
    for _ in range(3):
        response = http.post("/api/calls", {"invitees": ["bob"]}, content_type="application/json", **auth)
        assert response.status_code == 200, response.content
        call_id = response.json()["callID"]
        services.call_cancel(user=alice, call_id=call_id)
    calls, members = Call.objects.count(), CallUser.objects.count()
    response = http.post("/api/calls", {"invitees": ["bob"]}, content_type="application/json", **auth)
    assert response.status_code == 429
    assert response.json() == {"error": {"code": None, "reason": "rate_limited",
                                         "message": "at most 3 invitations per minute"}}
    assert (Call.objects.count(), CallUser.objects.count()) == (calls, members)
    # callingInvite counts too; other users have their own budget
    with pytest.raises(CallError) as refused:
        services.calling_invite(user=alice, call_id=call_id, invitees=["carol"])
    assert refused.value.reason == "rate_limited"
    assert services.call_invite(user=dave, invitees=["carol"])["callID"]


def test_limit_zero_is_off(settings, alice, bob):
    settings.RATE_LIMIT_INVITES_PER_MINUTE = 0
    for _ in range(5):
        call_id = services.call_invite(user=alice, invitees=["bob"])["callID"]
        services.call_cancel(user=alice, call_id=call_id)


def test_token_attempts_per_username(settings, alice):
    settings.RATE_LIMIT_AUTH_FAILURES_PER_USERNAME = 3
    http = Client()
    for _ in range(3):
        response = http.post("/api/auth/token", {"username": "alice", "password": "wrong"},
                             content_type="application/json")
        assert response.status_code == 401
    tokens = ApiToken.objects.count()
    # now even the right password is refused, and no token is made
    response = http.post("/api/auth/token", {"username": "alice", "password": PASSWORD},
                         content_type="application/json")
    assert response.status_code == 429 and response.json()["error"]["reason"] == "rate_limited"
    assert ApiToken.objects.count() == tokens


def test_token_attempts_per_ip(settings, alice, bob):
    settings.RATE_LIMIT_AUTH_FAILURES_PER_IP = 4
    http = Client(REMOTE_ADDR="10.1.2.3")
    for name in ("u1", "u2", "u3", "u4"):  # spraying usernames from one address
        assert http.post("/api/auth/token", {"username": name, "password": "x"},
                         content_type="application/json").status_code == 401
    response = http.post("/api/auth/token", {"username": "bob", "password": PASSWORD},
                         content_type="application/json")
    assert response.status_code == 429
    # another address is not affected
    other = Client(REMOTE_ADDR="10.9.9.9")
    assert other.post("/api/auth/token", {"username": "bob", "password": PASSWORD},
                      content_type="application/json").status_code == 200


def test_login_page_attempts(settings, alice):
    settings.RATE_LIMIT_AUTH_FAILURES_PER_USERNAME = 3
    browser = Client()
    for _ in range(3):
        response = browser.post("/login/", {"username": "alice", "password": "wrong"})
        assert response.status_code == 200 and "_auth_user_id" not in browser.session
    response = browser.post("/login/", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 200 and "_auth_user_id" not in browser.session, "a blocked login got in"
    # below the limit the right password works (a fresh window)
    settings.RATE_LIMIT_AUTH_FAILURES_PER_USERNAME = 10
    response = browser.post("/login/", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 302 and "_auth_user_id" in browser.session


def test_redis_away_fails_open(settings, alice, bob):
    settings.RATE_LIMIT_INVITES_PER_MINUTE = 1
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    try:
        for _ in range(3):
            call_id = services.call_invite(user=alice, invitees=["bob"])["callID"]
            services.call_cancel(user=alice, call_id=call_id)
    finally:
        ratelimit._client = None
