"""Presence decisions under concurrency, on the
real database with one connection per thread."""
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, connections

from invitations import services
from invitations.models import Connection, UserPresence

pytestmark = pytest.mark.django_db(transaction=True)

ROUNDS = 40


def test_last_two_sockets_closing_at_once(make_user):
    """Two last sockets of one user close at the same moment: exactly one of
    the closes sees the user go offline, in every round."""
    if connection.vendor != "postgresql":
        pytest.skip("concurrent transactions need PostgreSQL (SQLite serializes them)")
    alice = make_user("alice")
    missed = 0
    for round_no in range(ROUNDS):
        channels = [f"chan-{round_no}-{i}" for i in range(2)]
        services.server_process_heartbeat(server_id="srv-race", host="h", pid=1)
        for i, channel in enumerate(channels):
            services.connection_open(user=alice, device_id=f"d{i}", channel_name=channel, server_id="srv-race")
        UserPresence.objects.filter(user=alice).delete()
        barrier = threading.Barrier(2)

        def close(channel: str) -> None:
            try:
                barrier.wait(5)
                services.connection_close(channel_name=channel)
            finally:
                connections.close_all()

        with ThreadPoolExecutor(2) as pool:
            list(pool.map(close, channels))
        assert not Connection.objects.filter(user=alice).exists()
        if not UserPresence.objects.filter(user=alice, last_offline_at__isnull=False).exists():
            missed += 1
    print(f"\nparallel last closes: {ROUNDS} rounds, {missed} without the offline decision")
    assert missed == 0


def test_server_id_fits_on_a_long_host_name(monkeypatch, make_user):
    """A host name of 200 characters must not make every
    connect fail on the 64-character server_id column."""
    import importlib
    import socket

    from invitations import web_process
    from invitations.models import ServerProcess

    long_host = ".".join(["a" * 63] * 3) + ".example"
    monkeypatch.setattr(socket, "gethostname", lambda: long_host)
    try:
        module = importlib.reload(web_process)
        alice = make_user("alice")
        module.register_connection(alice, "d1", "chan-long-host")  # heartbeat, then the connection row
        assert Connection.objects.get(channel_name="chan-long-host").server_id == module.SERVER_ID
        assert ServerProcess.objects.get(server_id=module.SERVER_ID).host == long_host
        assert len(module.SERVER_ID) <= ServerProcess._meta.get_field("server_id").max_length
    finally:
        monkeypatch.undo()
        importlib.reload(web_process)


def test_sockets_per_user_limit_under_parallel_connects(make_user, settings):
    """CALL_MAX_SOCKETS_PER_USER holds when many sockets of
    one user connect at once (the count is taken under the user's row lock)."""
    from invitations.errors import CallError

    if connection.vendor != "postgresql":
        pytest.skip("concurrent transactions need PostgreSQL (SQLite serializes them)")
    settings.CALL_MAX_SOCKETS_PER_USER = 3
    alice = make_user("alice")
    services.server_process_heartbeat(server_id="srv-limit", host="h", pid=1)
    barrier = threading.Barrier(8)

    def open_one(i: int) -> str:
        try:
            barrier.wait(5)
            services.connection_open(user=alice, device_id=f"d{i}", channel_name=f"lim-{i}", server_id="srv-limit")
            return "open"
        except CallError as exc:
            return exc.reason
        finally:
            connections.close_all()

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(open_one, range(8)))
    print(f"\nsockets per user: 8 parallel connects, limit 3: {answers.count('open')} opened")
    assert answers.count("open") == 3 and answers.count("rate_limited") == 5
    assert Connection.objects.filter(user=alice).count() == 3
