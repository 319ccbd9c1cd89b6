"""Presence: open WebSockets (Connection rows), the web processes that hold
them (ServerProcess, with a heartbeat), and what connecting and leaving do:
a device that connects receives its waiting invitations; a user's last
device leaving starts the caller-offline clock (deadlines.py).
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from .. import scheduling, states
from ..events import push_presence_on_commit
from ..models import Call, CallUser, Connection, ServerProcess, UserPresence
from ..states import CallState, CallUserState as S
from . import sql
from .operations import Operation, each_call_locked

User = get_user_model()
WAITING = (S.INVITING, S.NOT_YET_RECEIVED)


def connection_open(*, user: AbstractBaseUser, device_id: str, channel_name: str, server_id: str) -> None:
    """Register a WebSocket and deliver the invitations waiting for the user."""
    with transaction.atomic():
        if sql.fast():  # the check and the insert in one statement
            first = sql.connection_insert(user_id=user.pk, device_id=device_id, channel_name=channel_name,
                                          server_id=server_id)
        else:
            first = not Connection.objects.filter(user=user).exists()
            Connection.objects.create(user=user, device_id=device_id, channel_name=channel_name,
                                      server_id=server_id, connected_at=timezone.now())
        if first:
            push_presence_on_commit(user.username, True)
    invitations_deliver(user=user)


def invitations_deliver(*, user: AbstractBaseUser) -> int:
    """A device of `user` connected: its waiting invitations become Received."""
    waiting = CallUser.objects.filter(user=user, state__in=list(WAITING), deadline__gt=timezone.now(),
                                      call__state=CallState.STARTED)

    def deliver(op: Operation) -> int:
        mine = [m for m in op.members if m.user_id == user.pk and m.state in WAITING
                and m.deadline and m.deadline > op.now]
        for member in mine:
            op.move(member, states.DELIVER)
        return len(mine)

    if sql.fast():  # every connect asks, and mostly nothing waits: one raw statement
        pks = sql.waiting_call_ids(user_id=user.pk, states=WAITING)
        return each_call_locked(pks, deliver) if pks else 0
    return each_call_locked(waiting.values_list("call_id", flat=True), deliver)


def connection_close(*, channel_name: str) -> None:
    """Forget a WebSocket; the user's last one starts the caller-offline clock."""
    with transaction.atomic():
        connection = Connection.objects.select_related("user").filter(channel_name=channel_name).first()
        if connection is None:
            return
        connection.delete()
        _user_went_offline_if_last(connection.user, timezone.now())


def _user_went_offline_if_last(user: Any, at: datetime) -> None:
    if Connection.objects.filter(user=user).exists():
        return
    UserPresence.objects.update_or_create(user=user, defaults={"last_offline_at": at})
    push_presence_on_commit(user.username, False)
    if Call.objects.filter(caller=user, state=CallState.STARTED, watch_caller_presence=True).exists():
        scheduling.schedule_caller_offline_check(user.pk, at)


def server_process_heartbeat(*, server_id: str, host: str, pid: int) -> None:
    now = timezone.now()
    ServerProcess.objects.update_or_create(
        server_id=server_id, defaults={"host": host, "pid": pid, "last_seen": now}, create_defaults={
            "host": host, "pid": pid, "last_seen": now, "started_at": now})


def server_process_stopped(*, server_id: str) -> None:
    """A web process shuts down cleanly: its connections are gone."""
    _drop_server_process(server_id, timezone.now())


def server_processes_reap() -> int:
    """Drop the connections of web processes that stopped proving they live (killed)."""
    cutoff = timezone.now() - timedelta(seconds=settings.CALL_SERVER_STALE_SECONDS)
    stale = list(ServerProcess.objects.filter(last_seen__lt=cutoff).values_list("server_id", "last_seen"))
    for server_id, last_seen in stale:
        _drop_server_process(server_id, last_seen)
    return len(stale)


def _drop_server_process(server_id: str, offline_at: datetime) -> None:
    with transaction.atomic():
        users = list(User.objects.filter(connections__server_id=server_id).distinct())
        ServerProcess.objects.filter(server_id=server_id).delete()  # cascades to its connections
        for user in users:
            _user_went_offline_if_last(user, offline_at)
