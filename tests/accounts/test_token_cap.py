"""At most CALL_MAX_TOKENS_PER_USER live API tokens per user: signing in once
more revokes the token that was used (or made) longest ago, never the new one,
and answers as usual (invitations/accounts/token_actions.py)."""

import threading
from datetime import UTC, datetime, timezone

import pytest
import time_machine
from django.db import connections
from django.test import Client

from invitations.accounts import token_actions
from invitations.models import ApiToken
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_passwords")]

START = datetime(2030, 3, 1, 9, 0, tzinfo=UTC)


def sign_in(username: str = "alice") -> str:
    response = Client().post(
        "/api/auth/token", {"username": username, "password": PASSWORD}, content_type="application/json"
    )
    assert response.status_code == 200, response.content
    return response.json()["token"]


def works(token: str) -> bool:
    return Client().get("/api/calls", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 200


def live_tokens(user) -> int:
    return ApiToken.objects.filter(user=user, revoked=False).count()


def test_one_more_sign_in_revokes_the_oldest(settings, alice, bob):
    settings.CALL_MAX_TOKENS_PER_USER = 3
    bobs = sign_in("bob")
    with time_machine.travel(START, tick=False) as clock:
        tokens = []
        for _ in range(5):
            tokens.append(sign_in())
            clock.shift(60)
        assert [works(t) for t in tokens] == [False, False, True, True, True]
    assert live_tokens(alice) == 3
    assert works(bobs), "another user's tokens are not touched"


def test_a_token_in_use_outlives_ones_made_later_and_left_unused(settings, alice):
    settings.CALL_MAX_TOKENS_PER_USER = 2
    with time_machine.travel(START, tick=False) as clock:
        in_use = sign_in()
        clock.shift(60)
        unused = sign_in()
        clock.shift(3600)
        assert works(in_use)  # used an hour after `unused` was made
        clock.shift(60)
        newest = sign_in()
        assert [works(in_use), works(unused), works(newest)] == [True, False, True]


def test_zero_is_no_cap(settings, alice):
    settings.CALL_MAX_TOKENS_PER_USER = 0
    tokens = [token_actions.api_token_create(user=alice) for _ in range(30)]
    assert live_tokens(alice) == 30 and works(tokens[0])


def test_expired_tokens_do_not_count(settings, alice):
    settings.CALL_MAX_TOKENS_PER_USER = 2
    settings.API_TOKEN_LIFETIME_SECONDS = 3600
    with time_machine.travel(START, tick=False) as clock:
        first = sign_in()
        clock.shift(7200)  # first has expired
        second, third = sign_in(), sign_in()
        assert [works(first), works(second), works(third)] == [False, True, True]


@pytest.mark.django_db(transaction=True)
def test_parallel_sign_ins_leave_the_cap(settings, make_user):
    """Sixteen sign-ins of one user at once: the user's row lock makes the count exact."""
    alice = make_user("alice")
    settings.CALL_MAX_TOKENS_PER_USER = 4
    start = threading.Barrier(16)
    tokens: list[str] = []

    def make() -> None:
        try:
            start.wait()
            tokens.append(token_actions.api_token_create(user=alice))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=make) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(tokens) == 16
    print(f"16 tokens made at once, cap 4: {live_tokens(alice)} live")
    assert live_tokens(alice) == 4
