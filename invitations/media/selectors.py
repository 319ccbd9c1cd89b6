"""Reads of the media rooms, their grants and tasks, and the media servers' health."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db.models import Count, Exists, OuterRef, Q

from invitations.calls.states import CallMode, CallState, CallUserState
from invitations.models import CallUser, MediaGrant, MediaRoom, MediaServer, MediaTask, OutboxStatus


def sfu_configured() -> bool:
    return bool(settings.CALL_SFU_URLS)


def live_room(call_pk: int) -> MediaRoom | None:
    return MediaRoom.objects.filter(call_id=call_pk, closed_at__isnull=True).first()


def call_had_room(call_pk: int) -> bool:
    """Whether the call ever had a room: once on a media server, it stays on one."""
    return MediaRoom.objects.filter(call_id=call_pk).exists()


def live_rooms_on(url: str) -> list[MediaRoom]:
    return list(MediaRoom.objects.filter(server_url=url, closed_at__isnull=True).select_related("call"))


def live_room_counts() -> dict[str, int]:
    """Live rooms per server URL (servers without any are absent)."""
    rows = MediaRoom.objects.filter(closed_at__isnull=True).values("server_url").annotate(n=Count("id"))
    return {row["server_url"]: row["n"] for row in rows}


def servers_down(now: datetime) -> set[str]:
    """The configured servers that get no new room now."""
    return set(
        MediaServer.objects.filter(url__in=settings.CALL_SFU_URLS, down_until__gt=now).values_list("url", flat=True)
    )


def accepted_usernames(call_pk: int) -> set[str]:
    return set(
        CallUser.objects.filter(call_id=call_pk, state=CallUserState.ACCEPTED).values_list("user__username", flat=True)
    )


def admissible_tokens(room: MediaRoom, now: datetime) -> list[str]:
    """Unexpired tokens of the room's members who are Accepted now (a room made again holds them)."""
    accepted = CallUser.objects.filter(call_id=room.call_id, state=CallUserState.ACCEPTED).values("user_id")
    return list(
        MediaGrant.objects.filter(room=room, user_id__in=accepted, expires_at__gt=now)
        .order_by("pk")
        .values_list("token", flat=True)
    )


def came_back_since(task: MediaTask) -> bool:
    """Whether the member got a token in the room after the task was written (it came back)."""
    return MediaGrant.objects.filter(room_id=task.room_id, user_id=task.user_id, pk__gt=task.grant_upto).exists()


def pending_removals(room: MediaRoom, user_pk: int) -> list[int]:
    return list(
        MediaTask.objects.filter(room=room, user_id=user_pk, kind=MediaTask.REMOVE, status=OutboxStatus.PENDING)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def rooms_media_over(general_started_before: datetime, limit: int = 500) -> list[MediaRoom]:
    """Live rooms whose call's media is over and that no pending task destroys yet: an
    advanced call that ended, or a general call started before `general_started_before`
    (its media window has passed)."""
    over = Q(call__mode=CallMode.ADVANCED, call__state=CallState.ENDED) | Q(
        call__mode=CallMode.GENERAL, call__created_at__lt=general_started_before
    )
    destroying = MediaTask.objects.filter(room=OuterRef("pk"), kind=MediaTask.DESTROY, status=OutboxStatus.PENDING)
    return list(
        MediaRoom.objects.filter(over, closed_at__isnull=True).exclude(Exists(destroying)).order_by("pk")[:limit]
    )
