"""queryMediaSession (PROTOCOL "Media sessions"): how an Accepted member's media flows.

Topology: without CALL_SFU_URLS always "p2p". With them, a call that has (or once had)
three Accepted members is "sfu": its one room is made under the call's row lock (so
two members asking at once get the same room, and an end that races the ask either
comes first, and the ask is refused, or finds the room and destroys it), on the
server servers.py picks. The member gets a token of its own, valid
CALL_SFU_TOKEN_TTL_SECONDS (a general call's: no longer than its media window), put in
the room's allowed list. Janus checks the token's expiry on every request of the
page's session, keepalives included, so the page asks again before `expiresAt` and
uses the new token from then on.

The Janus requests are made after commit (never under the lock). A quit, device move
or end that commits meanwhile has its task done by a worker, perhaps before this
member's token went in; so the member's standing is read again afterwards and, if it
changed, the same work is written again. If every server is down the answer is "p2p".
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from invitations.calls.errors import CallError
from invitations.calls.operation import lock_call_with_members
from invitations.calls.payloads import ms
from invitations.calls.states import CallMode
from invitations.calls.states import CallUserState as S
from invitations.media import payloads, rooms, selectors, servers
from invitations.media.sfu import JanusError, JanusUnavailable, member_token
from invitations.media.signaling import ice_servers, media_window_check, media_window_end
from invitations.models import Call, CallUser, MediaGrant, MediaRoom, MediaTask

logger = logging.getLogger(__name__)


def media_session_query(*, user: AbstractBaseUser, device_id: str, call_id: str) -> payloads.MediaSession:
    if "\x00" in call_id:  # from a URL path; PostgreSQL refuses NUL in text, and no call has one
        raise CallError("call_not_found")
    if not selectors.sfu_configured():
        _standing_check(_member_row(user, call_id), device_id)
        return payloads.media_session_p2p(call_id)
    # A server found down on the way is left and the room placed again: once per server at most.
    for _ in range(len(settings.CALL_SFU_URLS)):
        placed = _place(user, device_id, call_id)
        if placed is None:
            return payloads.media_session_p2p(call_id)
        room, grant = placed
        rooms.removals_settle(room, user.pk)
        try:
            rooms.room_admit(room, grant)
        except (JanusUnavailable, JanusError) as exc:
            if isinstance(exc, JanusError):  # it answers, but refuses the site: its secrets differ
                logger.error("media server %s refused the site (%s): check its secrets", room.server_url, exc)
            servers.server_mark_down(room.server_url, str(exc))
            continue
        _recheck(user, device_id, call_id, room, grant)
        return payloads.media_session_sfu(
            call_id,
            url=room.server_url,
            room=room.room,
            token=grant.token,
            ice_servers=ice_servers(user=user, device_id=device_id)["iceServers"],
            expires_at_ms=ms(grant.expires_at),
        )
    return payloads.media_session_p2p(call_id)


def _member_row(user: AbstractBaseUser, call_id: str) -> CallUser | None:
    return CallUser.objects.filter(call__call_id=call_id, user_id=user.pk).select_related("call").first()


def _standing_check(member: CallUser | None, device_id: str) -> None:
    """The refusals of callSignal: not a member, media over, not Accepted, not the call device."""
    if member is None:
        raise CallError("call_not_found")
    media_window_check(member.call)
    if member.state != S.ACCEPTED:
        raise CallError("invalid_state", "you are not Accepted in this call")
    if member.device_id and member.device_id != device_id:
        raise CallError("invalid_state", "this device is not your call device (the call is on another one)")


def _place(user: AbstractBaseUser, device_id: str, call_id: str) -> tuple[MediaRoom, MediaGrant] | None:
    """Under the call's row lock: the checks, the call's room (made if it needs one), and a
    token for this member. None: peer to peer."""
    with transaction.atomic():
        call, members = lock_call_with_members(call_id)
        _standing_check(next((m for m in members if m.user_id == user.pk), None), device_id)
        now = timezone.now()
        room = selectors.live_room(call.pk)
        if room is not None and not servers.server_usable(room.server_url, now):
            rooms.room_close(room, call, members, topology=servers.topology_now(now))
            room = None
        if room is None:
            accepted = sum(1 for m in members if m.state == S.ACCEPTED)
            if accepted < rooms.SFU_THRESHOLD and not selectors.call_had_room(call.pk):
                return None
            url = servers.server_pick(now)
            if url is None:
                return None
            room = rooms.room_new(call, url, now)
        return room, _grant_new(room, call, user, now)


def _grant_new(room: MediaRoom, call: Call, user: AbstractBaseUser, now: datetime) -> MediaGrant:
    expires_at = now + timedelta(seconds=settings.CALL_SFU_TOKEN_TTL_SECONDS)
    if call.mode == CallMode.GENERAL:
        expires_at = min(expires_at, media_window_end(call))
    token = member_token(
        settings.CALL_SFU_TOKEN_SECRET, int(expires_at.timestamp()), room=room.room, user_id=user.get_username()
    )
    # the token's expiry is in whole seconds: expiresAt says the same
    expires_at = expires_at.replace(microsecond=0)
    return MediaGrant.objects.create(room=room, user_id=user.pk, token=token, expires_at=expires_at, created_at=now)


def _recheck(user: AbstractBaseUser, device_id: str, call_id: str, room: MediaRoom, grant: MediaGrant) -> None:
    """The member's standing read again after its token went in: if a quit, move or end
    committed meanwhile (its task may have run before the token went in), the room is
    destroyed, or this token taken out again, and the ask refused as it would be now."""
    member = _member_row(user, call_id)
    try:
        _standing_check(member, device_id)
    except CallError:
        with transaction.atomic():
            if member is not None and servers.media_over(member.call, timezone.now()):
                rooms.task_write(room, MediaTask.DESTROY)
            else:  # this token only: the member's new device may have asked meanwhile
                rooms.task_write(room, MediaTask.REMOVE, user.pk, grants=[grant])
        raise
