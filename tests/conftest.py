"""Shared fixtures: real PostgreSQL or SQLite (DATABASE_URL), real Redis."""
import os
import uuid

# One Redis namespace per test run, so parallel runs and a running site never
# see each other's events or jobs. Set before Django reads its settings.
os.environ.setdefault("REDIS_PREFIX", f"test-{uuid.uuid4().hex[:8]}")

import pytest  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402

from tests.helpers import Inbox  # noqa: E402

PASSWORD = "pw-for-tests-only"


@pytest.fixture
def make_user(db):
    def make(username: str, **extra):
        user = get_user_model().objects.create_user(username=username, password=PASSWORD, **extra)
        return user

    return make


@pytest.fixture
def alice(make_user):
    return make_user("alice")


@pytest.fixture
def bob(make_user):
    return make_user("bob")


@pytest.fixture
def carol(make_user):
    return make_user("carol")


@pytest.fixture
def dave(make_user):
    return make_user("dave")


@pytest.fixture
def inbox():
    """Subscribes to users' event groups on the real channel layer."""
    box = Inbox()
    yield box
    box.close()
