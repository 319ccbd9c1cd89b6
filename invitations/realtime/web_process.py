"""This web (Daphne) process: its id, its heartbeat, and the thread pool its
sockets run database work on. Presence (realtime/presence.py) trusts a
connection only while its process keeps proving it is alive.
"""

import asyncio
import contextvars
import functools
import logging
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, close_old_connections, connections

from invitations.calls import selectors
from invitations.models.presence import SERVER_ID_MAX_LENGTH
from invitations.realtime import presence

logger = logging.getLogger(__name__)


def make_server_id(host: str, pid: int) -> str:
    """host-pid-random, within the server_id column: a long host name is cut
    (the pid and the random part keep ids apart)."""
    suffix = f"-{pid}-{secrets.token_hex(4)}"
    return host[: SERVER_ID_MAX_LENGTH - len(suffix)] + suffix


HOST = socket.gethostname()
SERVER_ID = make_server_id(HOST, os.getpid())

# The sockets this process holds (channel -> user id, device): registered again
# if the process finds its ServerProcess row gone.
_sockets: dict[str, tuple[int, str]] = {}


def run_in_db_thread(func: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
    """Like channels' database_sync_to_async, but on the loop's thread pool
    instead of the one thread all sync code shares by default, so that one
    socket's database round trips do not queue behind every other socket's;
    and without asgiref's machinery (its context hand-back and nested
    async_to_sync support cost CPU on every call, and nothing here uses them)."""

    def with_connection_hygiene(*args: Any, **kwargs: Any) -> Any:
        close_old_connections()
        try:
            return func(*args, **kwargs)
        finally:
            close_old_connections()

    async def in_thread(*args: Any, **kwargs: Any) -> Any:
        context = contextvars.copy_context()  # context variables are seen in the thread, as with asgiref
        return await asyncio.get_running_loop().run_in_executor(
            None, functools.partial(context.run, with_connection_hygiene, *args, **kwargs)
        )

    return in_thread


def heartbeat(using: str = "default") -> bool:
    """True if this process's row was missing (see presence.server_process_heartbeat)."""
    return presence.server_process_heartbeat(server_id=SERVER_ID, host=HOST, pid=os.getpid(), using=using)


# The periodic beat runs on one thread of its own with its own database
# connection ("heartbeat" in DATABASES, outside the pool): when every pooled
# connection is busy, the process must still prove it lives.
HEARTBEAT_DB = "heartbeat"
_heartbeat_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="heartbeat")


def _beat_on_own_connection() -> bool:
    using = HEARTBEAT_DB if HEARTBEAT_DB in settings.DATABASES else "default"
    try:
        return heartbeat(using)
    except Exception:
        connections[using].close()  # the next beat connects afresh
        raise


def restore_sockets() -> int:
    """Register again every socket this process holds (its row was reaped)."""
    sockets = [(user_id, device_id, channel) for channel, (user_id, device_id) in list(_sockets.items())]
    return presence.connections_restore(server_id=SERVER_ID, sockets=sockets) if sockets else 0


_heartbeat_loops: set[int] = set()


async def _heartbeat_forever() -> None:
    last_ok = time.monotonic()
    failures = 0
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(settings.CALL_SERVER_HEARTBEAT_SECONDS)
        try:
            row_was_gone = await loop.run_in_executor(_heartbeat_thread, _beat_on_own_connection)
        except Exception:
            failures += 1
            silent = time.monotonic() - last_ok
            # Loud: past CALL_SERVER_STALE_SECONDS the sweep drops this process's users.
            level = logging.CRITICAL if silent > settings.CALL_SERVER_STALE_SECONDS else logging.ERROR
            logger.log(
                level,
                "server heartbeat of %s failed (%d in a row, none for %.1f s)",
                SERVER_ID,
                failures,
                silent,
                exc_info=True,
            )
            continue
        if failures:
            logger.warning("server heartbeat of %s back after %d failures", SERVER_ID, failures)
        failures, last_ok = 0, time.monotonic()
        if row_was_gone and _sockets:
            logger.error(
                "web process %s was reaped while alive: registering its %d sockets again", SERVER_ID, len(_sockets)
            )
            try:
                restored = await run_in_db_thread(restore_sockets)()
                logger.warning("web process %s: %d connections restored", SERVER_ID, restored)
            except Exception:
                logger.critical("web process %s could not restore its connections", SERVER_ID, exc_info=True)


def ensure_heartbeat() -> None:
    """Start this event loop's heartbeat task, once."""
    loop = asyncio.get_running_loop()
    if id(loop) not in _heartbeat_loops:
        _heartbeat_loops.add(id(loop))
        loop.create_task(_heartbeat_forever())


_last_connect_beat = 0.0


def register_connection(user: User, device_id: str, channel_name: str) -> bool:
    """A socket of this process opened: the process is alive, the device online.
    True if the user has invitations pending (presence.connection_open)."""
    global _last_connect_beat
    # A burst of connects proves the process alive once, not once per socket:
    # its row cannot have been reaped within a fraction of the stale limit.
    now = time.monotonic()
    beaten = now - _last_connect_beat < min(1.0, settings.CALL_SERVER_STALE_SECONDS / 4)
    if not beaten:
        heartbeat()
        _last_connect_beat = now
    try:
        pending = presence.connection_open(
            user=user, device_id=device_id, channel_name=channel_name, server_id=SERVER_ID
        )
    except IntegrityError:
        if not beaten:
            raise
        # the row went since the last beat (dropped by hand, a test's flush): make it again
        heartbeat()
        _last_connect_beat = time.monotonic()
        pending = presence.connection_open(
            user=user, device_id=device_id, channel_name=channel_name, server_id=SERVER_ID
        )
    _sockets[channel_name] = (user.pk, device_id)
    return pending


def open_socket(user: User, device_id: str, channel_name: str) -> list[Any]:
    """register_connection, then the frames of the invitations waiting for the
    user: one trip to a database thread for the whole connect."""
    if not register_connection(user, device_id, channel_name):
        return []
    return selectors.pending_invitations_for(user=user)


def unregister_connection(channel_name: str) -> None:
    """A socket of this process closed."""
    _sockets.pop(channel_name, None)
    presence.connection_close(channel_name=channel_name)
