"""Presence: open WebSockets (Connection rows), the web processes that hold
them (ServerProcess, with a heartbeat), and what connecting and leaving do:
a device that connects receives its waiting invitations; a user's last
device leaving starts the caller-offline clock, and a call device leaving
starts its member's away clock (deadlines.py).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from invitations.calls import states
from invitations.calls.errors import CallError
from invitations.calls.operation import Operation, each_call_locked
from invitations.calls.roundtrip import Statement, fetch, run
from invitations.calls.states import CallState
from invitations.calls.states import CallUserState as S
from invitations.models import (
    Call,
    CallUser,
    Connection,
    DeviceAway,
    ServerProcess,
    UserPresence,
)
from invitations.realtime.publish import push_presence_on_commit
from invitations.worker import scheduling

logger = logging.getLogger(__name__)
WAITING = (S.INVITING, S.NOT_YET_RECEIVED)


def _lock_users(user_ids: Any) -> list[Any]:
    """Lock users' rows, in id order: whether a user is online (first socket
    in, last socket out) is decided by one transaction at a time. NO KEY
    UPDATE: it must not wait for (or block) the KEY SHARE locks that event
    and member inserts take on their users."""
    return list(User.objects.select_for_update(no_key=True).filter(pk__in=list(user_ids)).order_by("pk"))


def connection_open(*, user: User, device_id: str, channel_name: str, server_id: str) -> bool:
    """Register a WebSocket and deliver the invitations waiting for the user;
    `rate_limited` if the user has CALL_MAX_SOCKETS_PER_USER open already.
    True if the user has invitations pending (waiting or Received): only then
    is there something for selectors.pending_invitations_for to find."""
    limit = settings.CALL_MAX_SOCKETS_PER_USER
    now = timezone.now()
    with transaction.atomic():
        open_sockets = _insert_connection(user.pk, device_id, channel_name, server_id, now, limit)
        if limit and open_sockets >= limit:
            raise CallError("rate_limited", f"at most {limit} open sockets per user")
        if not open_sockets:
            push_presence_on_commit(user, True)
    # Asked after the commit: an invitation committed later saw this socket and was delivered to it.
    if not _has_pending_invitations(user.pk):
        return False
    invitations_deliver(user=user)
    return True


# The user's row locked (NO KEY UPDATE, as _lock_users), then: the user's sockets
# before this one, this one inserted unless that reaches `limit` (0: none), and its
# device's away row removed if it was inserted (the device is back in time).
LOCK_USER = "SELECT 1 FROM auth_user WHERE id = %(user_id)s FOR NO KEY UPDATE"
INSERT_CONNECTION = (
    "WITH before AS (SELECT count(*) AS n FROM invitations_connection WHERE user_id = %(user_id)s), "
    "ins AS (INSERT INTO invitations_connection (channel_name, user_id, device_id, server_id, connected_at) "
    "SELECT %(channel_name)s::varchar, %(user_id)s, %(device_id)s::varchar, %(server_id)s::varchar, "
    "%(now)s::timestamptz FROM before WHERE %(limit)s::int = 0 OR before.n < %(limit)s::int RETURNING 1), "
    "back AS (DELETE FROM invitations_deviceaway WHERE user_id = %(user_id)s AND device_id = %(device_id)s::varchar "
    "AND EXISTS (SELECT 1 FROM ins)) "
    "SELECT before.n FROM before"
)
# a waiting or Received (0, 9, 5) invitee of a Started (1) call whose deadline has not passed
PENDING_INVITATION = (
    "SELECT 1 FROM invitations_calluser m JOIN invitations_call c ON c.id = m.call_id WHERE m.user_id = %(user_id)s "
    "AND m.state IN (0, 5, 9) AND c.state = 1 AND (m.deadline IS NULL OR m.deadline > %(now)s) LIMIT 1"
)


def _insert_connection(
    user_id: int, device_id: str, channel_name: str, server_id: str, now: datetime, limit: int
) -> int:
    """The user's sockets before this one, and this one inserted unless that
    reaches `limit` (0: none), in two statements: the user's row locked (one
    transaction at a time decides first-in and the limit; the count must be a
    statement after the lock to see what the transaction it waited on
    committed), then count and insert together. An inserted socket also
    removes its device's away row (the device is back in time)."""
    params = {
        "user_id": user_id,
        "channel_name": channel_name,
        "device_id": device_id,
        "server_id": server_id,
        "now": now,
        "limit": limit,
    }
    _, [(before,)] = run([Statement(LOCK_USER, params), Statement(INSERT_CONNECTION, params)])
    return int(before)


def _has_pending_invitations(user_id: int) -> bool:
    """Whether the user is a waiting or Received invitee of a started call
    whose deadline has not passed (one indexed probe, no ORM)."""
    return bool(fetch(PENDING_INVITATION, {"user_id": user_id, "now": timezone.now()}))


def invitations_deliver(*, user: User) -> int:
    """A device of `user` connected: its waiting invitations become Received."""
    # timeout 0: no deadline, delivered whenever a device connects
    waiting = CallUser.objects.filter(
        Q(deadline__isnull=True) | Q(deadline__gt=timezone.now()),
        user=user,
        state__in=list(WAITING),
        call__state=CallState.STARTED,
    )

    def deliver(op: Operation) -> int:
        mine = [
            m
            for m in op.members
            if m.user_id == user.pk and m.state in WAITING and (m.deadline is None or m.deadline > op.now)
        ]
        for member in mine:
            op.move(member, states.DELIVER)
        return len(mine)

    return each_call_locked(waiting.values_list("call_id", flat=True), deliver)


def connection_close(*, channel_name: str) -> None:
    """Forget a WebSocket; the user's last one starts the caller-offline clock,
    a call device's last one its member's away clock."""
    with transaction.atomic():
        connection = Connection.objects.select_related("user").filter(channel_name=channel_name).first()
        if connection is None:
            return
        # Two last sockets closing at once: without the lock each would still
        # see the other's row, and nobody would decide the user went offline.
        _lock_users([connection.user_id])
        if not Connection.objects.filter(pk=connection.pk).delete()[0]:
            return  # closed meanwhile by someone else (a reaper)
        now = timezone.now()
        _device_left_if_last(connection.user_id, connection.device_id, now)
        _user_went_offline_if_last(connection.user, now)


def _device_left_if_last(user_id: int, device_id: str, at: datetime) -> None:
    """The device's last socket is gone (the user's row is locked): if it is the
    call device of an Accepted member of a running call, start the away clock."""
    if Connection.objects.filter(user_id=user_id, device_id=device_id).exists():
        return
    # the partial index accepted_in_running_call
    if (
        not CallUser.objects.filter(user_id=user_id, state=S.ACCEPTED, call_running=True, device_id=device_id)
        .exclude(device_id="")
        .exists()
    ):
        return
    DeviceAway.objects.update_or_create(user_id=user_id, device_id=device_id, defaults={"since": at})
    scheduling.schedule_member_away_check(user_id, at)


def _user_went_offline_if_last(user: Any, at: datetime) -> None:
    if Connection.objects.filter(user=user).exists():
        return
    UserPresence.objects.update_or_create(user=user, defaults={"last_offline_at": at})
    push_presence_on_commit(user, False)
    if Call.objects.filter(caller=user, state=CallState.STARTED, watch_caller_presence=True).exists():
        scheduling.schedule_caller_offline_check(user.pk, at)


def server_process_heartbeat(*, server_id: str, host: str, pid: int, using: str = "default") -> bool:
    """The web process `server_id` is alive. True if its row was missing (a
    first beat, or the reaper dropped it): the caller then registers again the
    sockets it holds (connections_restore). `using`: the web process's own
    database connection for the heartbeat, so a busy pool cannot stall it."""
    now = timezone.now()
    host = host[: ServerProcess._meta.get_field("host").max_length]
    # Waits on the reaper's row lock; if the reaper dropped the row, makes it again.
    _, created = ServerProcess.objects.using(using).update_or_create(
        server_id=server_id,
        defaults={"host": host, "pid": pid, "last_seen": now},
        create_defaults={"host": host, "pid": pid, "last_seen": now, "started_at": now},
    )
    return created


def connections_restore(*, server_id: str, sockets: list[tuple[int, str, str]]) -> int:
    """A web process found its row gone (reaped while it was stalled, its
    sockets still open): register again each (user id, device, channel) it
    holds, mark the users online, and deliver what waited meanwhile. Returns
    how many connections were restored."""
    restored: list[Any] = []
    for user_id, device_id, channel_name in sockets:
        with transaction.atomic():
            users = _lock_users([user_id])
            if not users or not ServerProcess.objects.filter(server_id=server_id).exists():
                continue
            user = users[0]
            first = not Connection.objects.filter(user=user).exists()
            _, created = Connection.objects.get_or_create(
                channel_name=channel_name,
                defaults={"user": user, "device_id": device_id, "server_id": server_id, "connected_at": timezone.now()},
            )
            if created:
                DeviceAway.objects.filter(user=user, device_id=device_id).delete()
                restored.append(user)
                if first:
                    push_presence_on_commit(user, True)
    for user in {u.pk: u for u in restored}.values():
        invitations_deliver(user=user)
    return len(restored)


def server_process_stopped(*, server_id: str) -> None:
    """A web process shuts down cleanly: its connections are gone."""
    _drop_server_process(server_id, timezone.now())


def server_processes_reap() -> int:
    """Drop the connections of web processes that stopped proving they live (killed)."""
    cutoff = timezone.now() - timedelta(seconds=settings.CALL_SERVER_STALE_SECONDS)
    reaped = 0
    for server_id in list(ServerProcess.objects.filter(last_seen__lt=cutoff).values_list("server_id", flat=True)):
        with transaction.atomic():
            # Re-checked under the row lock: a heartbeat that came in since the
            # read above keeps the process (its beat waits on this lock, then
            # finds the row gone only if it really was stale).
            row = (
                ServerProcess.objects.select_for_update(skip_locked=True)
                .filter(server_id=server_id, last_seen__lt=cutoff)
                .first()
            )
            if row is None:
                continue
            logger.warning("reaping web process %s: no heartbeat since %s", server_id, row.last_seen)
            _drop_server_process(server_id, row.last_seen)
            reaped += 1
    return reaped


def _drop_server_process(server_id: str, offline_at: datetime) -> None:
    with transaction.atomic():
        users = _lock_users(set(Connection.objects.filter(server_id=server_id).values_list("user_id", flat=True)))
        devices = set(Connection.objects.filter(server_id=server_id).values_list("user_id", "device_id"))
        ServerProcess.objects.filter(server_id=server_id).delete()  # cascades to its connections
        for user_id, device_id in sorted(devices):
            _device_left_if_last(user_id, device_id, offline_at)
        for user in users:
            _user_went_offline_if_last(user, offline_at)
