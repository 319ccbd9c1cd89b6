"""Presence decisions under concurrency, on the
real database with one connection per thread."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connections

from invitations.calls import actions, deadlines
from invitations.models import Connection, UserPresence
from invitations.realtime import presence

pytestmark = pytest.mark.django_db(transaction=True)

ROUNDS = 40


def test_last_two_sockets_closing_at_once(make_user):
    """Two last sockets of one user close at the same moment: exactly one of
    the closes sees the user go offline, in every round."""
    alice = make_user("alice")
    missed = 0
    for round_no in range(ROUNDS):
        channels = [f"chan-{round_no}-{i}" for i in range(2)]
        presence.server_process_heartbeat(server_id="srv-race", host="h", pid=1)
        for i, channel in enumerate(channels):
            presence.connection_open(user=alice, device_id=f"d{i}", channel_name=channel, server_id="srv-race")
        UserPresence.objects.filter(user=alice).delete()
        barrier = threading.Barrier(2)

        def close(channel: str) -> None:
            try:
                barrier.wait(5)
                presence.connection_close(channel_name=channel)
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

    from invitations.models import ServerProcess
    from invitations.realtime import web_process

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
    from invitations.calls.errors import CallError

    settings.CALL_MAX_SOCKETS_PER_USER = 3
    alice = make_user("alice")
    presence.server_process_heartbeat(server_id="srv-limit", host="h", pid=1)
    barrier = threading.Barrier(8)

    def open_one(i: int) -> str:
        try:
            barrier.wait(5)
            presence.connection_open(user=alice, device_id=f"d{i}", channel_name=f"lim-{i}", server_id="srv-limit")
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


def test_reconnect_racing_the_away_timeout(make_user):
    """A call device reconnects at the moment its away clock runs out, while the job and the
    sweep both check: exactly one outcome in every round. Either the member stays Accepted with
    no clock left running, or it is Quit once (one log row) and stays Quit."""
    from datetime import timedelta

    from django.conf import settings
    from django.utils import timezone

    from invitations.calls.states import CallMode
    from invitations.calls.states import CallUserState as S
    from invitations.models import CallEvent, CallUser, DeviceAway

    alice, bob = make_user("alice"), make_user("bob")
    presence.server_process_heartbeat(server_id="srv-away", host="h", pid=1)
    presence.connection_open(user=alice, device_id="a1", channel_name="away-alice", server_id="srv-away")
    outcomes = {"stayed": 0, "quit": 0}
    for round_no in range(ROUNDS):
        channel = f"away-bob-{round_no}"
        presence.connection_open(user=bob, device_id="b1", channel_name=channel, server_id="srv-away")
        call_id = actions.call_invite(user=alice, invitees=["bob"], mode=CallMode.ADVANCED, device_id="a1")["callID"]
        actions.call_accept(user=bob, call_id=call_id, device_id="b1")
        presence.connection_close(channel_name=channel)
        DeviceAway.objects.filter(user=bob).update(
            since=timezone.now() - timedelta(seconds=settings.CALL_HEARTBEAT_TIMEOUT_SECONDS + 1)
        )
        barrier = threading.Barrier(3)

        def run(what: str) -> None:
            try:
                barrier.wait(5)
                if what == "reconnect":
                    presence.connection_open(
                        user=bob, device_id="b1", channel_name=f"{channel}-back", server_id="srv-away"
                    )
                elif what == "job":
                    deadlines.members_away_quit(user_id=bob.pk)
                else:
                    deadlines.members_away_quit()
            finally:
                connections.close_all()

        with ThreadPoolExecutor(3) as pool:
            list(pool.map(run, ["reconnect", "job", "sweep"]))
        deadlines.members_away_quit()  # a later check changes nothing either way
        member = CallUser.objects.get(call__call_id=call_id, user=bob)
        quits = CallEvent.objects.filter(call__call_id=call_id, user=bob, to_state=S.QUIT).count()
        if member.state == S.ACCEPTED:
            assert quits == 0 and not DeviceAway.objects.filter(user=bob).exists()
            outcomes["stayed"] += 1
            actions.call_end(user=bob, call_id=call_id, device_id="b1")
        else:
            assert (member.state, member.reason, quits) == (S.QUIT, "offline", 1)
            outcomes["quit"] += 1
            actions.call_end(user=alice, call_id=call_id, device_id="a1")
        presence.connection_close(channel_name=f"{channel}-back")
        DeviceAway.objects.all().delete()
    print(f"\nreconnect racing the away timeout: {ROUNDS} rounds, {outcomes}")
    assert sum(outcomes.values()) == ROUNDS
