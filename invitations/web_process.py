"""This web (Daphne) process: its id, its heartbeat, and the thread pool its
sockets run database work on. Presence (services/presence.py) trusts a
connection only while its process keeps proving it is alive.
"""
import asyncio
import logging
import os
import secrets
import socket
import time
from typing import Any, Callable

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, close_old_connections

from . import selectors, services

logger = logging.getLogger(__name__)

SERVER_ID = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(4)}"


def run_in_db_thread(func: Callable[..., Any]) -> Callable[..., Any]:
    """Like channels' database_sync_to_async, but on a thread pool instead of
    the one thread all sync code shares by default, so that one socket's
    database round trips do not queue behind every other socket's."""

    def with_connection_hygiene(*args: Any, **kwargs: Any) -> Any:
        close_old_connections()
        try:
            return func(*args, **kwargs)
        finally:
            close_old_connections()

    return sync_to_async(with_connection_hygiene, thread_sensitive=False)


def heartbeat() -> None:
    services.server_process_heartbeat(server_id=SERVER_ID, host=socket.gethostname(), pid=os.getpid())
    _last_heartbeat["at"] = time.monotonic()


_heartbeat_loops: set[int] = set()


async def _heartbeat_forever() -> None:
    while True:
        await asyncio.sleep(settings.CALL_SERVER_HEARTBEAT_SECONDS)
        try:
            await run_in_db_thread(heartbeat)()
        except Exception:
            logger.exception("server heartbeat failed")


def ensure_heartbeat() -> None:
    """Start this event loop's heartbeat task, once."""
    loop = asyncio.get_running_loop()
    if id(loop) not in _heartbeat_loops:
        _heartbeat_loops.add(id(loop))
        loop.create_task(_heartbeat_forever())


_last_heartbeat = {"at": 0.0}


def register_connection(user: AbstractBaseUser, device_id: str, channel_name: str) -> list[dict[str, Any]]:
    """A socket of this process opened: the process is alive, the device online.
    Returns the invitations waiting for the user (callInvitationReceived frames)."""
    if time.monotonic() - _last_heartbeat["at"] > 1.0:  # a burst of connects proves it once a second
        heartbeat()
    try:
        services.connection_open(user=user, device_id=device_id, channel_name=channel_name, server_id=SERVER_ID)
    except IntegrityError:  # this process's row was reaped meanwhile (it stalled): prove it lives, retry
        heartbeat()
        services.connection_open(user=user, device_id=device_id, channel_name=channel_name, server_id=SERVER_ID)
    return selectors.pending_invitations_for(user=user)
