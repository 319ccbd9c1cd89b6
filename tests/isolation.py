"""Loaded with `-p tests.isolation` (pytest.ini), before Django reads its settings:
one Redis namespace and one job queue per test run, so parallel runs and a
running site never see each other's events or jobs."""

import os
import secrets
import uuid

os.environ.setdefault("REDIS_PREFIX", f"test-{uuid.uuid4().hex[:8]}")
os.environ.setdefault("CALL_QUEUE", os.environ["REDIS_PREFIX"])
# No persistent connections in the test process: threads that touched the
# database must not keep the test database open (it is flushed and dropped).
os.environ.setdefault("DB_CONN_MAX_AGE", "0")
# The production invitation limits (30 a minute) would refuse the suite's
# callers: tests raise them here, and the tests of the limits set their own.
# The sign-in limits keep their defaults; conftest resets their counters per test.
os.environ.setdefault("RATE_LIMIT_INVITES_PER_MINUTE", "1000000")
os.environ.setdefault("RATE_LIMIT_INVITEES_PER_MINUTE", "1000000")
# Settings refuse to start without SECRET_KEY when DEBUG is off (as in tests).
os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
# The test process has no periodic heartbeat worth a database alias of its own
# (pytest-django would refuse it); real Daphnes (tests/processes.py) have one.
os.environ.setdefault("DB_HEARTBEAT_CONNECTION", "0")
# Never the checkout's local settings file (var/local.env, made by scripts/run), in
# this process or the Daphnes and workers it starts: the tests set what they need.
os.environ["LOCAL_SETTINGS_FILE"] = ""
# The suite's webhook receivers listen on 127.0.0.1, an address a site refuses
# unless it lists the host (PROTOCOL, "Limits (version 3)").
os.environ.setdefault("CALL_WEBHOOK_PRIVATE_HOSTS", "127.0.0.1")
