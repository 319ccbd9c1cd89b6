"""The payloads of PROTOCOL "Media sessions", built here only: the answer of
queryMediaSession (and GET /api/calls/{callID}/media) and the event callMediaChanged
(registered in calls/payloads.EVENT_DATA, so every frame sent is checked in tests)."""

from __future__ import annotations

from typing import Any, Literal, NotRequired

from pydantic import ConfigDict, with_config
from typing_extensions import TypedDict

Topology = Literal["p2p", "sfu"]
SignalKind = Literal["offer", "answer", "candidate", "bye"]


@with_config(ConfigDict(extra="forbid", strict=True))
class SignalReceived(TypedDict):
    """callSignalReceived's data (the frame is built by calls/payloads.signal_received)."""

    callID: str
    fromUserID: str
    fromDeviceID: str
    kind: SignalKind
    payload: dict[str, Any]


class IceServers(TypedDict):
    iceServers: list[dict[str, Any]]


class SfuAccess(TypedDict):
    url: str  # the Janus WebSocket URL
    room: int  # the VideoRoom room number
    token: str  # the session token and the VideoRoom join token
    iceServers: list[dict[str, Any]]
    expiresAt: int  # ms: no new join (and no request of a session) with the token after it


class MediaSession(TypedDict):
    callID: str
    topology: Topology
    sfu: NotRequired[SfuAccess]


@with_config(ConfigDict(extra="forbid", strict=True))
class MediaChanged(TypedDict):
    callID: str
    topology: Topology


def media_session_p2p(call_id: str) -> MediaSession:
    return MediaSession(callID=call_id, topology="p2p")


def media_session_sfu(
    call_id: str, *, url: str, room: int, token: str, ice_servers: list[dict[str, Any]], expires_at_ms: int
) -> MediaSession:
    return MediaSession(
        callID=call_id,
        topology="sfu",
        sfu=SfuAccess(url=url, room=room, token=token, iceServers=ice_servers, expiresAt=expires_at_ms),
    )


def media_changed(call_id: str, topology: Topology) -> MediaChanged:
    """The data of callMediaChanged (seq 0: not a change of call state)."""
    return MediaChanged(callID=call_id, topology=topology)
