"""Media signaling (PROTOCOL "Media signaling"): relay WebRTC offers, answers,
candidates and byes between the Accepted members of a call, and hand out ICE
servers (TURN, with coturn REST credentials, only to members whose media may flow).

Signals are not call state: nothing is stored and nothing is locked. The
members' states are read as they are now; a signal that races a quit is at
worst one stray frame the page ignores (it answers a `bye` anyway).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db.models import Q
from django.utils import timezone

from invitations.accounts import ratelimit
from invitations.accounts.tenancy import tenant_of, user_id_of, username_for
from invitations.calls import payloads
from invitations.calls.errors import CallError
from invitations.calls.states import CallMode, CallState, CallUserState
from invitations.media import payloads as media_payloads
from invitations.models import CallUser, Connection
from invitations.realtime.publish import send_to_channels


def call_signal(
    *,
    user: User,
    device_id: str,
    call_id: str,
    to_user_id: str,
    kind: media_payloads.SignalKind,
    payload: dict[str, Any],
) -> payloads.CallIDAnswer:
    """Relay one signal to the target's call device(s); refusals as PROTOCOL says."""
    ratelimit.signal_attempt(user)
    target_name = username_for(tenant_of(user), to_user_id)  # a member is of the sender's tenant
    rows = {
        m.user.get_username(): m
        for m in CallUser.objects.filter(
            call__call_id=call_id, user__username__in=[user.get_username(), target_name or user.get_username()]
        ).select_related("call", "user")
    }
    sender = rows.get(user.get_username())
    if sender is None:
        raise CallError("call_not_found")
    target = rows.get(target_name) if target_name is not None else None
    if target is None or target.pk == sender.pk:
        raise CallError("invalid_argument", "toUserID: not another member of this call")
    media_window_check(sender.call)
    if sender.state != CallUserState.ACCEPTED:
        raise CallError("invalid_state", "you are not Accepted in this call")
    if sender.device_id and sender.device_id != device_id:
        raise CallError("invalid_state", "this device is not your call device (the call is on another one)")
    if target.state != CallUserState.ACCEPTED:
        raise CallError("invalid_state", f"{to_user_id} is not Accepted in this call")
    send_to_channels(
        call_device_channels(target),
        payloads.signal_received(call_id=call_id, from_user=user, from_device=device_id, kind=kind, payload=payload),
    )
    return payloads.CallIDAnswer(callID=call_id)


def media_window_check(call: Any) -> None:
    """call_ended unless the call's media may flow: an advanced call still Started, or a
    general call (Ended once everyone answered) within CALL_MEDIA_MAX_SECONDS of its start."""
    if call.mode == CallMode.ADVANCED:
        if call.state != CallState.STARTED:
            raise CallError("call_ended")
    elif timezone.now() > media_window_end(call):
        raise CallError("call_ended", "the call's media window (CALL_MEDIA_MAX_SECONDS) has passed")


def media_window_end(call: Any) -> datetime:
    """When a general call's media stops (an advanced call's stops when it ends)."""
    return call.created_at + timedelta(seconds=settings.CALL_MEDIA_MAX_SECONDS)


def call_device_channels(member: CallUser) -> list[str]:
    """The sockets of the member's call device; all its sockets when it has none (HTTP)."""
    connections = Connection.objects.filter(user_id=member.user_id)
    if member.device_id:
        connections = connections.filter(device_id=member.device_id)
    return list(connections.values_list("channel_name", flat=True))


def ice_servers(*, user: User, device_id: str = "") -> media_payloads.IceServers:
    """CALL_ICE_SERVERS. TURN entries (a relay, which costs the operator bandwidth) only for a
    user Accepted in a call whose media may flow (PROTOCOL version 3, "Media sessions"); each
    TURN entry without its own credentials gets coturn REST credentials (use-auth-secret) for
    this user when CALL_TURN_SECRET is set, valid CALL_TURN_TTL_SECONDS."""
    servers = []
    relay_allowed: bool | None = None  # asked once, and only if a TURN entry is configured
    for entry in settings.CALL_ICE_SERVERS:
        server = dict(entry)
        urls = server.get("urls", [])
        urls = [urls] if isinstance(urls, str) else list(urls)
        if any(_is_turn_url(url) for url in urls):
            if relay_allowed is None:
                relay_allowed = in_call_with_media(user=user)
            if not relay_allowed:
                # the entry's STUN URLs (one server often serves both) stay, without the relay
                stun = [url for url in urls if not _is_turn_url(url)]
                if stun:
                    servers.append({"urls": stun})
                continue
            if settings.CALL_TURN_SECRET and "credential" not in server:
                server.update(turn_credentials(user_id=user_id_of(user)))
        servers.append(server)
    return media_payloads.IceServers(iceServers=servers)


def in_call_with_media(*, user: User) -> bool:
    """Accepted in a call whose media may flow, by the rules of call_signal: an advanced call
    still Started, or a general call within CALL_MEDIA_MAX_SECONDS of its start."""
    media_since = timezone.now() - timedelta(seconds=settings.CALL_MEDIA_MAX_SECONDS)
    return (
        CallUser.objects.filter(user_id=user.pk, state=CallUserState.ACCEPTED)
        .filter(
            Q(call__mode=CallMode.ADVANCED, call__state=CallState.STARTED)
            | Q(call__mode=CallMode.GENERAL, call__created_at__gte=media_since)
        )
        .exists()
    )


def _is_turn_url(url: Any) -> bool:
    # URI schemes are case-insensitive (RFC 7065): "TURN:" is a relay too
    return isinstance(url, str) and url.lower().startswith(("turn:", "turns:"))


def turn_credentials(*, user_id: str, now: float | None = None) -> dict[str, str]:
    """coturn's TURN REST scheme: username `<expiry>:<userID>`, credential base64(HMAC-SHA1(secret, username))."""
    expiry = int((time.time() if now is None else now) + settings.CALL_TURN_TTL_SECONDS)
    username = f"{expiry}:{user_id}"
    digest = hmac.new(settings.CALL_TURN_SECRET.encode(), username.encode(), hashlib.sha1).digest()
    return {"username": username, "credential": base64.b64encode(digest).decode()}
