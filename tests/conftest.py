"""Shared fixtures: real PostgreSQL or SQLite (DATABASE_URL), real Redis."""
import pytest
from django.contrib.auth import get_user_model

from tests.helpers import Inbox

PASSWORD = "pw-for-tests-only"


@pytest.fixture(autouse=True)
def rate_limit_state():
    """Each test starts with rate-limiter state of its own: the counters live in
    Redis under this run's prefix and would otherwise carry one test's failed
    sign-ins into the next (a fuzz test locking `alice` out of a later one)."""
    from django.conf import settings

    from invitations import ratelimit

    client = ratelimit._redis()
    keys = list(client.scan_iter(f"{settings.REDIS_PREFIX}:ratelimit:*", count=1000))
    if keys:
        client.delete(*keys)
    yield


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


@pytest.fixture
def process_logs(tmp_path):
    path = tmp_path / "logs"
    path.mkdir()
    return path


@pytest.fixture
def live_site(transactional_db, process_logs):
    """A real daphne process and a real rqworker --with-scheduler; yields the base URL."""
    from tests.processes import start_daphne, start_worker

    worker = start_worker(process_logs)
    daphne, base = start_daphne(process_logs)
    yield base
    daphne.stop()
    worker.stop()
