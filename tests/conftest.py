"""Shared fixtures: real PostgreSQL (DATABASE_URL), real Redis."""

import json
from contextlib import contextmanager

import pytest
from django.contrib.auth import get_user_model

from invitations.calls.payloads import check_event_frame
from invitations.realtime import publish
from tests.helpers import Inbox

# real Janus servers (janus_server, spare_janus, sfu)
pytest_plugins = ("tests.fakes.janus",)

PASSWORD = "pw-for-tests-only"


@pytest.fixture(autouse=True)
def rate_limit_state():
    """Each test starts with rate-limiter state of its own: the counters live in
    Redis under this run's prefix and would otherwise carry one test's failed
    sign-ins into the next (a fuzz test locking `alice` out of a later one)."""
    from django.conf import settings

    from invitations.accounts import ratelimit

    client = ratelimit._redis()
    keys = list(client.scan_iter(f"{settings.REDIS_PREFIX}:ratelimit:*", count=1000))
    if keys:
        client.delete(*keys)
    yield


@pytest.fixture
def fast_passwords(settings):
    # PBKDF2 costs ~0.5 s a user on this shared machine; use where the hasher is not under test.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


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


class SentFrames(list):
    """(user id, frame) for every frame published, in order."""

    def to(self, user) -> list[dict]:
        return [frame for user_id, frame in self if user_id == user.pk]

    def events(self, user) -> list[tuple]:
        return [(f["event"], f["seq"], f["data"]) for f in self.to(user)]


@pytest.fixture
def capture_frames(monkeypatch, django_capture_on_commit_callbacks):
    """`with capture_frames() as sent:` runs the block's on-commit work when it
    ends and keeps every frame it would publish (instead of sending it to Redis),
    each checked against its payload type (payloads.py). The Redis tests
    (tests/calls/test_events.py, consumers, e2e) cover the delivery itself."""

    @contextmanager
    def capture():
        sent = SentFrames()

        def record(messages: dict) -> None:
            for group, message in messages.items():
                user_id = int(group.removeprefix("user.")) if group.startswith("user.") else None
                for text in message["texts"]:
                    frame = json.loads(text)
                    check_event_frame(frame)
                    sent.append((user_id, frame))

        with monkeypatch.context() as patch:
            patch.setattr(publish, "publish", record)
            with django_capture_on_commit_callbacks(execute=True):
                yield sent

    return capture


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


@pytest.fixture
def receiver():
    """A local HTTP server standing in for a webhook receiver (tests/fakes/webhook_receiver.py)."""
    from tests.fakes.webhook_receiver import WebhookReceiver

    server = WebhookReceiver()
    yield server
    server.stop()


@pytest.fixture
def push_service(settings):
    """A local HTTP server standing in for a browser vendor's push service, allowed as an endpoint."""
    from tests.fakes.push_service import LocalPushService

    settings.CALL_PUSH_ENDPOINT_HOSTS = ["127.0.0.1"]
    settings.CALL_PUSH_ALLOW_HTTP = True
    service = LocalPushService()
    yield service
    service.stop()
