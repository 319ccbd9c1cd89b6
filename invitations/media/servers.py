"""The media servers (CALL_SFU_URLS): where a new room goes, and which ones answer.

Placement: the least loaded server by live rooms, among those not marked down (ties:
the first in CALL_SFU_URLS). Rooms are counted in the database, so every web process
places alike, and a call stays on its server while that answers.

A server that stops answering (a member's request to it fails, or CALL_SFU_DOWN_AFTER_FAILURES
checks in a row fail) is marked down for CALL_SFU_RETRY_SECONDS: it gets no new room,
its live rooms are closed and their calls' Accepted members get callMediaChanged, so
that, asking again, they get a room on another server (or peer to peer if none is left).
The workers' sweep checks each server every CALL_SFU_CHECK_SECONDS and brings a server
that answers again back at once.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from invitations.calls.operation import lock_call_with_members
from invitations.calls.states import CallMode, CallState
from invitations.media import rooms, selectors
from invitations.media.sfu import JanusUnavailable, server_info
from invitations.media.signaling import media_window_end
from invitations.models import Call, MediaRoom, MediaServer

CHECK_TIMEOUT_SECONDS = 2.0  # a check is one `info`: a healthy Janus answers at once


def server_pick(now: datetime) -> str | None:
    """The server a new room goes to, or None when every one is marked down."""
    down = selectors.servers_down(now)
    up = [url for url in settings.CALL_SFU_URLS if url not in down]
    if not up:
        return None
    load = selectors.live_room_counts()
    return min(up, key=lambda url: (load.get(url, 0), settings.CALL_SFU_URLS.index(url)))


def server_usable(url: str, now: datetime) -> bool:
    """Whether a room there may still be used (configured, not marked down)."""
    return url in settings.CALL_SFU_URLS and url not in selectors.servers_down(now)


def topology_now(now: datetime) -> str:
    """What a call with a room gets on asking now: "p2p" when no server is left."""
    return "sfu" if server_pick(now) else "p2p"


def media_over(call: Call, now: datetime) -> bool:
    if call.mode == CallMode.ADVANCED:
        return call.state != CallState.STARTED
    return now > media_window_end(call)


def server_mark_down(url: str, error: str) -> int:
    """Mark the server down (no new room until CALL_SFU_RETRY_SECONDS have passed or a
    check finds it back) and move its calls off it; how many rooms were closed."""
    now = timezone.now()
    server, _ = MediaServer.objects.get_or_create(url=url)
    server.down_until = now + timedelta(seconds=settings.CALL_SFU_RETRY_SECONDS)
    server.failures = max(server.failures, settings.CALL_SFU_DOWN_AFTER_FAILURES)
    server.last_error = error[:500]
    server.save(update_fields=["down_until", "failures", "last_error"])
    return server_leave(url)


def server_leave(url: str) -> int:
    """Close each live room on the server, one call at a time under its row lock; its
    Accepted members are told to ask again (unless the call's media is over)."""
    closed = 0
    for found in selectors.live_rooms_on(url):
        with transaction.atomic():
            call, members = lock_call_with_members(found.call.call_id)
            room = MediaRoom.objects.filter(pk=found.pk, closed_at__isnull=True).first()
            if room is None:
                continue  # closed meanwhile
            now = timezone.now()
            rooms.room_close(room, call, members, topology=None if media_over(call, now) else topology_now(now))
            closed += 1
    return closed


def servers_check() -> int:
    """The sweep: `info` to each configured server whose last check is older than
    CALL_SFU_CHECK_SECONDS (one worker each time: the row is claimed); how many were
    marked down or came back."""
    if not selectors.sfu_configured():
        return 0
    now = timezone.now()
    cutoff = now - timedelta(seconds=settings.CALL_SFU_CHECK_SECONDS)
    MediaServer.objects.bulk_create([MediaServer(url=url) for url in settings.CALL_SFU_URLS], ignore_conflicts=True)
    with transaction.atomic():
        due = list(
            MediaServer.objects.select_for_update(skip_locked=True)
            .filter(Q(checked_at__isnull=True) | Q(checked_at__lt=cutoff), url__in=settings.CALL_SFU_URLS)
            .values_list("url", flat=True)
        )
        MediaServer.objects.filter(url__in=due).update(checked_at=now)
    return sum(1 for url in due if server_check(url))


def server_check(url: str) -> bool:
    """Ask one server now: back up if it answers, one more failure (down after enough) if
    not. Whether it was marked down or came back."""
    server, _ = MediaServer.objects.get_or_create(url=url)
    was_down = server.down_until is not None
    try:
        server_info(url, timeout=min(CHECK_TIMEOUT_SECONDS, settings.CALL_SFU_TIMEOUT_SECONDS))
    except JanusUnavailable as exc:
        if server.failures + 1 >= settings.CALL_SFU_DOWN_AFTER_FAILURES:
            server_mark_down(url, str(exc))
            return not was_down
        MediaServer.objects.filter(pk=server.pk).update(failures=server.failures + 1, last_error=str(exc)[:500])
        return False
    if server.failures or was_down:
        MediaServer.objects.filter(pk=server.pk).update(failures=0, down_until=None, last_error="")
    return was_down
