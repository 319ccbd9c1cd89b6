"""Each test starts with rate-limiter state of its own:
failures counted by one test must not lock a user out in the next. The two
tests run in file order; the second fails if the first's counters leak."""

from django.test import Client

from tests.conftest import PASSWORD


def _sign_in(password: str) -> int:
    return (
        Client()
        .post("/api/auth/token", {"username": "alice", "password": password}, content_type="application/json")
        .status_code
    )


def test_first_uses_up_alices_failures(settings, alice):
    settings.RATE_LIMIT_AUTH_FAILURES_PER_USERNAME = 3
    answers = [_sign_in("wrong") for _ in range(4)]
    assert answers == [401, 401, 401, 429]


def test_second_starts_clean(settings, alice):
    settings.RATE_LIMIT_AUTH_FAILURES_PER_USERNAME = 3
    assert _sign_in(PASSWORD) == 200
